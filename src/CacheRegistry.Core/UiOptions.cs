namespace CacheRegistry;

/// <summary><c>Registry:Ui</c>: the dashboard at /ui, off unless enabled.</summary>
public sealed class UiOptions
{
    /// <summary>Serve the dashboard: to loopback clients freely, to others with the admin token.</summary>
    public bool Enabled { get; set; }
}

namespace CacheRegistry.Server.Http;

/// <summary><c>Registry:Ui</c>: the dashboard at /ui, off unless enabled.</summary>
internal sealed class UiOptions
{
    public const string Section = "Registry:Ui";

    /// <summary>Serve the dashboard: to loopback clients freely, to others with the admin token.</summary>
    public bool Enabled { get; set; }
}

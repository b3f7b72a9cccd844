namespace CacheRegistry;

/// <summary><c>Registry:Admin</c>: the admin API under /admin, off unless a token is set.</summary>
public sealed class AdminOptions
{
    /// <summary>Bearer token the admin API requires; empty turns the admin API off.</summary>
    public string? Token { get; set; }
}

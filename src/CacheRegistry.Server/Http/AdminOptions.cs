namespace CacheRegistry.Server.Http;

/// <summary><c>Registry:Admin</c>: the admin API under /admin, off unless a token is set.</summary>
internal sealed class AdminOptions
{
    public const string Section = "Registry:Admin";

    /// <summary>Bearer token the admin API requires; empty turns the admin API off.</summary>
    public string? Token { get; set; }
}

namespace CacheRegistry.Cluster;

/// <summary>
/// What one replica learns that the others should know at once: upstream bearer tokens, passthrough
/// decisions, an upstream's "not found", and the bytes spent of an upstream's quota. Best effort: an
/// answer the shared store cannot give in time is "not known" (null), and each replica then works
/// it out for itself, as a single replica does. Keys are plain text; the store adds its own prefix.
/// </summary>
public interface ISharedState
{
    /// <summary>The value, or null when unknown or the shared store cannot answer. Never throws but for <paramref name="ct"/>.</summary>
    Task<string?> GetAsync(string key, CancellationToken ct);

    /// <summary>Keeps the value until <paramref name="expires"/>. Never throws but for <paramref name="ct"/>: a value not shared is only a lookup more elsewhere.</summary>
    Task SetAsync(string key, string value, DateTimeOffset expires, CancellationToken ct);

    /// <summary>Adds to a counter that lives until <paramref name="expires"/>; its new total, or null when the store cannot answer.</summary>
    Task<long?> AddAsync(string key, long delta, DateTimeOffset expires, CancellationToken ct);
}

/// <summary>Keys for values that must not name who they belong to (an identity, a repository): a hash of them.</summary>
public static class SharedKey
{
    public static string Hashed(string kind, string text) =>
        kind + ":" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
}

/// <summary>One replica, nothing shared: every lookup is "not known".</summary>
public sealed class NothingShared : ISharedState
{
    public static NothingShared Instance { get; } = new();

    public Task<string?> GetAsync(string key, CancellationToken ct) => Task.FromResult<string?>(null);
    public Task SetAsync(string key, string value, DateTimeOffset expires, CancellationToken ct) => Task.CompletedTask;
    public Task<long?> AddAsync(string key, long delta, DateTimeOffset expires, CancellationToken ct) => Task.FromResult<long?>(null);
}

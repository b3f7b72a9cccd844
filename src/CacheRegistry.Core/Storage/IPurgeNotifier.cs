namespace CacheRegistry.Storage;

/// <summary>
/// Tells every replica that shared metadata was changed behind its back (a purge), so each drops
/// its in-memory copies of tags and manifests. Only shared metadata stores implement it.
/// </summary>
public interface IPurgeNotifier
{
    Task PublishAsync(CancellationToken ct);

    /// <summary>Calls <paramref name="onPurge"/> for every purge, and whenever messages may have been missed (a reconnect).</summary>
    void Subscribe(Action onPurge);
}

namespace CacheRegistry.Maintenance;

/// <summary>
/// One runner at a time for maintenance of what replicas share (eviction from the shared bucket):
/// without it every replica's evictor would free what the limit asks, each, in the same second.
/// </summary>
public interface IMaintenanceLock
{
    /// <summary>The lock (dispose to release), or null while another replica holds it. It expires after <paramref name="ttl"/> if its holder dies.</summary>
    Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan ttl, CancellationToken ct);
}

/// <summary>One process, nothing shared: one run at a time within it.</summary>
public sealed class LocalMaintenanceLock : IMaintenanceLock, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan ttl, CancellationToken ct) =>
        await _gate.WaitAsync(0, ct) ? new Held(_gate) : null;

    public void Dispose() => _gate.Dispose();

    private sealed class Held(SemaphoreSlim gate) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            gate.Release();
            return ValueTask.CompletedTask;
        }
    }
}

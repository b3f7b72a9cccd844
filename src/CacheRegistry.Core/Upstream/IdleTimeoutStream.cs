namespace CacheRegistry.Upstream;

/// <summary>A read-only wrapper whose reads fail with TimeoutException after a period with no bytes; it counts what it reads.</summary>
internal sealed class IdleTimeoutStream(Stream inner, TimeSpan idle, Action<int>? onBytes = null, string source = "upstream") : ReadOnlyStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(idle);
        try
        {
            var n = await inner.ReadAsync(buffer, cts.Token);
            onBytes?.Invoke(n);
            return n;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"no bytes from {source} for {idle.TotalSeconds:F0} s");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

namespace CacheRegistry.Common;

/// <summary>A read-only wrapper whose reads fail with TimeoutException after a period with no bytes; it counts what it reads.</summary>
internal sealed class IdleTimeoutStream(Stream inner, TimeSpan idle, TimeProvider time, Action<int>? onBytes = null, string source = "upstream") : ReadOnlyStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        using var deadline = new Deadline(idle, time, ct);
        try
        {
            var n = await inner.ReadAsync(buffer, deadline.Token);
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

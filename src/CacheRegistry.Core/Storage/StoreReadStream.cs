namespace CacheRegistry.Storage;

/// <summary>
/// A stream read from a store: a read that gets no bytes within the store's deadline, or fails,
/// marks the store down and ends the read with <see cref="StoreUnavailableException"/>, so a
/// store that stalls mid-body cuts the client instead of hanging it.
/// </summary>
public sealed class StoreReadStream(Stream inner, StoreCircuit circuit, IDisposable? owner = null) : ReadOnlyStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var idle = new Common.Deadline(circuit.CallTimeout, circuit.Time, cancellationToken);
        try
        {
            return await inner.ReadAsync(buffer, idle.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw circuit.Failed($"no bytes for {circuit.CallTimeout.TotalSeconds:0.#} s in the middle of a read", e);
        }
        catch (Exception e) when (circuit.IsOutage(e))
        {
            throw circuit.Failed(e.Message, e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            owner?.Dispose();
        }
        base.Dispose(disposing);
    }
}

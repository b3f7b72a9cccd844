using Microsoft.Win32.SafeHandles;

namespace CacheRegistry.Cache;

/// <summary>Reads a fill's spool at its own pace, waiting for bytes that have not arrived yet.</summary>
internal sealed class FillReader(BlobFill fill, SafeFileHandle spool, long offset) : ReadOnlyStream
{
    private long _position = offset;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        while (true)
        {
            var wake = fill.Progress.NextAsync();
            // State before Written: once Committed is seen, Written is final.
            var state = fill.State;
            // While the fill runs, the last byte written is held back: a client can then never
            // receive a complete body before the digest is checked, so a mismatch always ends
            // in a cut connection, never in a whole wrong blob.
            var available = fill.Written - _position - (state == FillState.Committed ? 0 : 1);
            if (available > 0)
            {
                var n = await RandomAccess.ReadAsync(spool, buffer[..(int)Math.Min(buffer.Length, available)], _position, ct);
                _position += n;
                return n;
            }
            if (state == FillState.Committed) return 0;
            if (state == FillState.Failed)
                throw new IOException($"upstream fill of {fill.Digest} failed: {fill.Failure?.Message}", fill.Failure);
            await wake.WaitAsync(ct);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) spool.Dispose();
        base.Dispose(disposing);
    }
}

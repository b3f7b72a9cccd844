using CacheRegistry.Oci;
using Microsoft.Win32.SafeHandles;

namespace CacheRegistry.Cache;

/// <summary>
/// Follows a fill at its own pace from <c>offset</c> to <c>end</c> (exclusive; the end of the blob
/// when null): from the spool while it grows, from the store once the blob is committed there,
/// waiting for bytes that have not arrived. While the blob is unverified the reader's final byte
/// is held back, whole blob or range, so a mismatch always ends in a cut connection, never in a
/// complete wrong body. If the fill loses its local disk, the reader goes on from the upstream
/// directly (<paramref name="passThrough"/>), checking that the bytes it already gave match.
/// </summary>
internal sealed class FillReader(BlobFill fill, long offset, long? end, FillReader.PassThrough passThrough) : ReadOnlyStream
{
    /// <summary>Opens the blob from the upstream at a position; the checker sees the bytes before it.</summary>
    public delegate Task<Stream> PassThrough(long position, Func<long, ReadOnlyMemory<byte>, ValueTask>? checkSkipped, CancellationToken ct);

    private readonly bool _held = fill.TryHold();
    private readonly int _repairsBefore = fill.Repairs;
    private bool _released;
    private SafeFileHandle? _spool;
    private Stream? _other;
    private readonly long _offset = offset;
    private long _position = offset;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_held) throw new IOException($"the fill of {fill.Digest} ended before this reader joined it");
        if (end is long e && _position >= e) return 0;
        while (true)
        {
            if (_other is not null) return await ReadOtherAsync(buffer, cancellationToken);
            var wake = fill.Progress.NextAsync();
            // Verified before Written: once verified, Written is final.
            var verified = fill.Verified;
            var written = fill.Written;
            var outcome = fill.Outcome;
            var done = outcome is not (FillOutcome.Running or FillOutcome.Failed);
            if (_spool is null)
            {
                if (verified && done && !fill.ReadFromSpool)
                {
                    _other = await fill.OpenCommittedAsync(_position, end is long last ? last - _position : null, cancellationToken);
                    Release();
                    continue;
                }
                if (fill.SpoolPath is { } path && TryOpen(path)) continue;
            }
            if (_spool is not null)
            {
                // A pool's repair rewrote bytes this reader gave: its client must ask again, not finish with them.
                if (verified && fill.Repairs > _repairsBefore && fill.RepairedWithin(_offset, _position))
                    throw new IOException($"bytes of {fill.Digest} this client was given came from an endpoint that sent wrong ones and were replaced; the transfer is cut so that it asks again");
                var stop = end ?? written;
                var limit = verified ? Math.Min(written, stop) : Math.Min(written, stop - 1);
                if (limit > _position)
                {
                    var n = await RandomAccess.ReadAsync(_spool, buffer[..(int)Math.Min(buffer.Length, limit - _position)], _position, cancellationToken);
                    _position += n;
                    return n;
                }
                if (verified && _position >= stop) return 0;
            }
            if (outcome == FillOutcome.Failed)
            {
                if (!fill.SpoolFailed) throw new IOException($"fill of {fill.Digest} failed: {fill.Failure?.Message}", fill.Failure);
                _other = await passThrough(_position, _spool is null ? null : CheckSentAsync, cancellationToken);
                continue;
            }
            if (done && _spool is null && fill.ReadFromSpool)
                throw new IOException($"blob {fill.Digest} was not stored by this fill and its spool is gone");
            await wake.WaitAsync(cancellationToken);
        }
    }

    private async ValueTask<int> ReadOtherAsync(Memory<byte> buffer, CancellationToken ct)
    {
        var want = end is long e ? (int)Math.Min(buffer.Length, e - _position) : buffer.Length;
        var n = await _other!.ReadAsync(buffer[..want], ct);
        _position += n;
        return n;
    }

    private bool TryOpen(string path)
    {
        try
        {
            _spool = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
            Release(); // the open handle keeps the bytes readable whatever happens to the file
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false; // renamed into the store (commit) or removed: the fill's state says which in a moment
        }
    }

    /// <summary>The upstream's bytes before the switch must be the ones this reader already gave from the spool.</summary>
    private async ValueTask CheckSentAsync(long at, ReadOnlyMemory<byte> bytes)
    {
        var from = Math.Max(at, _offset);
        var to = Math.Min(at + bytes.Length, _position);
        if (to <= from) return;
        var sent = new byte[to - from];
        await RandomAccess.ReadAsync(_spool!, sent, from);
        if (!bytes.Span[(int)(from - at)..(int)(to - at)].SequenceEqual(sent))
            throw new RegistryError(502, "UNAVAILABLE", $"upstream sent different bytes for {fill.Digest} the second time; the transfer is cut");
    }

    private void Release()
    {
        if (_held && !_released)
        {
            _released = true;
            fill.Release();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
            _spool?.Dispose();
            _other?.Dispose();
        }
        base.Dispose(disposing);
    }
}

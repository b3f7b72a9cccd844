using System.Security.Cryptography;
using CacheRegistry.Storage;
using Microsoft.Win32.SafeHandles;

namespace CacheRegistry.Cache;

/// <summary>
/// A fill's spool as a pool writes it: segments land at their offsets in any order; the bytes in
/// front of the first gap are hashed in order (read back from the file, which the page cache
/// still holds) and only then published to readers and the store.
/// </summary>
internal sealed class SpoolSink : IDisposable
{
    private readonly Spool _spool;
    private readonly IncrementalHash _hasher;
    private readonly Func<long, CancellationToken, ValueTask> _published;
    private readonly SafeFileHandle _read;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SortedDictionary<long, long> _ahead = []; // start → end of written ranges past the first gap
    private long _prefix;

    /// <param name="from">Where the pool starts: every byte before it is written, hashed and published.</param>
    /// <param name="published">Told each new end of the contiguous, hashed bytes.</param>
    public SpoolSink(Spool spool, IncrementalHash hasher, long from, Func<long, CancellationToken, ValueTask> published)
    {
        _spool = spool;
        _hasher = hasher;
        _published = published;
        _prefix = from;
        _read = File.OpenHandle(spool.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
    }

    public ValueTask WriteAtAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct) => _spool.WriteAtAsync(offset, data, ct);

    public ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken ct) => RandomAccess.ReadAsync(_read, buffer, offset, ct);

    /// <summary>Bytes <paramref name="start"/> to <paramref name="end"/> are written; publishes the prefix when they close the first gap.</summary>
    public async Task CompletedAsync(long start, long end, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            _ahead[start] = end;
            var before = _prefix;
            while (_ahead.Remove(_prefix, out var next))
            {
                await HashAsync(_prefix, next, ct);
                _prefix = next;
            }
            if (_prefix == before) return;
            _spool.Extend(_prefix);
            await _published(_prefix, ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Hashes the whole blob again from the file (after a repair rewrote parts of it): true when it is <paramref name="digest"/>.</summary>
    public async Task<bool> RehashMatchesAsync(Oci.Digest digest, long total, CancellationToken ct)
    {
        _ = _hasher.GetHashAndReset();
        await HashAsync(0, total, ct);
        return digest.Matches(_hasher.GetHashAndReset());
    }

    private async Task HashAsync(long from, long to, CancellationToken ct)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(256 * 1024);
        try
        {
            for (var at = from; at < to;)
            {
                var n = await RandomAccess.ReadAsync(_read, buffer.AsMemory(0, (int)Math.Min(buffer.Length, to - at)), at, ct);
                if (n == 0) throw new IOException($"spool {_spool.Path} ends at {at}, before {to}");
                _hasher.AppendData(buffer, 0, n);
                at += n;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _read.Dispose();
        _gate.Dispose();
    }
}

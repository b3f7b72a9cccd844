using System.Buffers;
using System.Security.Cryptography;
using CacheRegistry.Oci;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

/// <summary>
/// A blob read straight from the upstream for one reader, when it cannot be spooled (the local
/// disk is down). Every byte from the first is hashed; bytes outside the reader's range are read
/// and dropped; the reader's final byte is held back until the whole blob has hashed to its
/// digest. On a mismatch the read fails, so a client never completes a wrong body or range.
/// </summary>
internal sealed class VerifiedUpstreamStream : ReadOnlyStream
{
    private const int ScratchSize = 64 * 1024;
    private readonly UpstreamResponse _response;
    private readonly Stream _body;
    private readonly Digest _digest;
    private readonly IncrementalHash _hash;
    private readonly long _size;
    private readonly long _start;
    private readonly long _end;
    private readonly Func<long, ReadOnlyMemory<byte>, ValueTask>? _checkSkipped;
    private readonly byte[] _scratch = ArrayPool<byte>.Shared.Rent(ScratchSize);
    private long _position;
    private bool _done;

    /// <param name="response">The upstream's answer to a GET of the whole blob.</param>
    /// <param name="end">Exclusive end of the reader's range.</param>
    /// <param name="checkSkipped">Sees the bytes before <paramref name="start"/>, e.g. to compare them with what the reader already got elsewhere.</param>
    public VerifiedUpstreamStream(UpstreamResponse response, Stream body, Digest digest, long size, long start, long end,
        Func<long, ReadOnlyMemory<byte>, ValueTask>? checkSkipped = null)
    {
        (_response, _body, _digest, _size, _start, _end, _checkSkipped) = (response, body, digest, size, start, end, checkSkipped);
        _hash = digest.CreateHasher();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_done || buffer.IsEmpty) return 0;
        while (_position < _start)
        {
            var skipped = _scratch.AsMemory(0, (int)Math.Min(ScratchSize, _start - _position));
            var n = await ReadUpstreamAsync(skipped, cancellationToken);
            if (_checkSkipped is not null) await _checkSkipped(_position, skipped[..n]);
            Consume(skipped.Span[..n]);
        }
        if (_position < _end - 1)
        {
            var n = await ReadUpstreamAsync(buffer[..(int)Math.Min(buffer.Length, _end - 1 - _position)], cancellationToken);
            Consume(buffer.Span[..n]);
            return n;
        }
        // The reader's final byte: read (and hash) the rest of the blob before giving it.
        byte? final = null;
        if (_end > _start)
        {
            var n = await ReadUpstreamAsync(_scratch.AsMemory(0, ScratchSize), cancellationToken);
            final = _scratch[0];
            Consume(_scratch.AsSpan(0, n));
        }
        while (_position < _size) Consume(_scratch.AsSpan(0, await ReadUpstreamAsync(_scratch.AsMemory(0, ScratchSize), cancellationToken)));
        if (await _body.ReadAsync(_scratch.AsMemory(0, 1), cancellationToken) > 0)
            throw Refused($"sent more than the {_size} bytes it announced for {_digest}");
        if (!_digest.Matches(_hash.GetHashAndReset())) throw Refused($"sent bytes that do not hash to {_digest}");
        _done = true;
        if (final is not byte b) return 0;
        buffer.Span[0] = b;
        return 1;
    }

    private async ValueTask<int> ReadUpstreamAsync(Memory<byte> into, CancellationToken ct)
    {
        if (_position + into.Length > _size) into = into[..(int)(_size - _position)];
        var n = into.IsEmpty ? 0 : await _body.ReadAsync(into, ct);
        if (n == 0) throw Refused($"ended {_digest} after {_position} of {_size} bytes");
        return n;
    }

    private void Consume(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        _position += bytes.Length;
    }

    private RegistryError Refused(string what) =>
        new(502, "UNAVAILABLE", $"upstream endpoint {_response.Endpoint.Authority} {what}; the blob was passed through without storing (local disk down) and is refused");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
            _response.Dispose();
            _hash.Dispose();
            ArrayPool<byte>.Shared.Return(_scratch);
        }
        base.Dispose(disposing);
    }
}

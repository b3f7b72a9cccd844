namespace CacheRegistry.Common;

/// <summary>Reads through to another stream and counts the bytes (a pushed body on its way on).</summary>
public sealed class CountingStream(Stream inner) : ReadOnlyStream
{
    public long Count { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        Count += n;
        return n;
    }
}

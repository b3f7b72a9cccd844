using System.Text;

namespace CacheRegistry.Server.Operations;

/// <summary>
/// Writes a tar stream entry by entry (ustar headers, base-256 sizes past 8 GiB), so blobs of any
/// size stream from the cache into the archive without being held in memory.
/// </summary>
internal sealed class OciArchiveWriter(Stream output)
{
    private static readonly DateTimeOffset Epoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public async Task AddAsync(string name, byte[] content, CancellationToken ct)
    {
        await output.WriteAsync(Header(name, content.Length), ct);
        await output.WriteAsync(content, ct);
        await PadAsync(content.Length, ct);
    }

    /// <summary>Adds an entry whose bytes <paramref name="write"/> produces; it must write exactly <paramref name="size"/> bytes.</summary>
    public async Task AddAsync(string name, long size, Func<Stream, Task<long>> write, CancellationToken ct)
    {
        await output.WriteAsync(Header(name, size), ct);
        var written = await write(output);
        if (written != size) throw new IOException($"{name}: expected {size} bytes, got {written}");
        await PadAsync(size, ct);
    }

    /// <summary>The two empty blocks that end a tar.</summary>
    public async Task FinishAsync(CancellationToken ct)
    {
        await output.WriteAsync(new byte[1024], ct);
        await output.FlushAsync(ct);
    }

    private async Task PadAsync(long size, CancellationToken ct)
    {
        var pad = (int)((512 - size % 512) % 512);
        if (pad > 0) await output.WriteAsync(new byte[pad], ct);
    }

    private static byte[] Header(string name, long size)
    {
        if (Encoding.ASCII.GetByteCount(name) > 100) throw new ArgumentException($"tar entry name too long: {name}", nameof(name));
        var h = new byte[512];
        Write(h, 0, 100, name);
        Write(h, 100, 8, "0000644");
        Write(h, 108, 8, "0000000");
        Write(h, 116, 8, "0000000");
        if (size < 8L * 1024 * 1024 * 1024) Write(h, 124, 12, Convert.ToString(size, 8).PadLeft(11, '0'));
        else
        {
            h[124] = 0x80; // base-256 for sizes that do not fit 11 octal digits
            for (var i = 0; i < 8; i++) h[135 - i] = (byte)(size >> (8 * i));
        }
        Write(h, 136, 12, Convert.ToString((long)(Epoch - DateTimeOffset.UnixEpoch).TotalSeconds, 8).PadLeft(11, '0'));
        h[156] = (byte)'0';
        Write(h, 257, 6, "ustar");
        Write(h, 263, 2, "00");
        for (var i = 148; i < 156; i++) h[i] = (byte)' ';
        var sum = h.Sum(b => (int)b);
        Write(h, 148, 8, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
        return h;
    }

    private static void Write(byte[] header, int offset, int length, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        Array.Copy(bytes, 0, header, offset, Math.Min(bytes.Length, length));
    }
}

using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>
/// The one local file a blob is written to on its way into the store. Readers follow it while it
/// grows; the blob store takes it at commit (the filesystem store renames it into place, the S3
/// store uploads parts from it). Disposing closes it and removes it unless the store took it.
/// </summary>
public sealed class Spool : IAsyncDisposable
{
    private readonly FileStream _file;
    private long _length;

    internal Spool(string path)
    {
        Path = path;
        _file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0, Options = FileOptions.Asynchronous,
        });
    }

    public string Path { get; }

    /// <summary>Bytes written so far; readers may read this many.</summary>
    public long Length => Interlocked.Read(ref _length);

    public async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await _file.WriteAsync(data, ct);
        Interlocked.Add(ref _length, data.Length);
    }

    /// <summary>Makes every byte durable before the store publishes the blob.</summary>
    public void FlushToDisk() => _file.Flush(flushToDisk: true);

    public async ValueTask DisposeAsync()
    {
        await _file.DisposeAsync();
        File.Delete(Path); // nothing happens when the store renamed it into place
    }
}


namespace CacheRegistry.Storage;

/// <summary>
/// The one local file a blob is written to on its way into the store. Readers follow it while it
/// grows; the blob store takes it at commit (the filesystem store renames it into place, the S3
/// store uploads parts from it). Disposing closes it and removes it unless the store took it; a
/// fill whose readers may still open it closes it first and removes it after the last of them.
/// </summary>
public sealed class Spool : IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly StoreCircuit _disk;
    private long _length;

    internal Spool(string path, StoreCircuit disk)
    {
        Path = path;
        _disk = disk;
        _file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0, Options = FileOptions.Asynchronous,
        });
    }

    public string Path { get; }

    /// <summary>Bytes written so far; readers may read this many.</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>Appends bytes; a disk error is a <see cref="StoreUnavailableException"/> naming the local disk, never an upstream fault.</summary>
    public async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await WriteAtAsync(Length, data, ct);
        Interlocked.Add(ref _length, data.Length);
    }

    /// <summary>
    /// Writes bytes at <paramref name="offset"/>, beyond what readers may read (a pool's segment
    /// arriving before the ones in front of it); <see cref="Extend"/> lets them read it once the
    /// bytes before it are there too.
    /// </summary>
    public async ValueTask WriteAtAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        try
        {
            await RandomAccess.WriteAsync(_file.SafeFileHandle, data, offset, ct);
        }
        catch (Exception e) when (_disk.IsOutage(e))
        {
            throw _disk.Failed($"writing {Path}: {e.Message}", e);
        }
    }

    /// <summary>The bytes up to <paramref name="length"/> are written (by <see cref="WriteAtAsync"/>): readers may read them.</summary>
    public void Extend(long length)
    {
        if (length > Length) Interlocked.Exchange(ref _length, length);
    }

    /// <summary>Makes every byte durable before the store publishes the blob.</summary>
    public void FlushToDisk()
    {
        try
        {
            _file.Flush(flushToDisk: true);
        }
        catch (Exception e) when (_disk.IsOutage(e))
        {
            throw _disk.Failed($"syncing {Path}: {e.Message}", e);
        }
    }

    /// <summary>Closes the file for writing; readers that opened it go on reading.</summary>
    public async ValueTask CloseAsync()
    {
        try
        {
            await _file.DisposeAsync();
        }
        catch (IOException)
        {
            // A full disk may fail the last flush: those bytes were never handed to readers or the store.
        }
    }

    /// <summary>Removes the file; nothing happens when the store renamed it into place.</summary>
    public void Delete() => File.Delete(Path);

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        Delete();
    }
}

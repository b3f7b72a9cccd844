using CacheRegistry.Oci;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.FileSystem;

/// <summary>
/// Blobs as files under <c>DataDir/blobs/&lt;algorithm&gt;/&lt;first two hex&gt;/&lt;hex&gt;</c>. A blob's
/// spool (in <c>DataDir/spool</c>) is fsynced and renamed into place on commit, so a crash never
/// leaves a partial blob visible.
/// </summary>
public sealed class FileSystemBlobStore : IBlobStore, IBlobInventory, IHealthProbe
{
    private readonly string _blobs;

    public FileSystemBlobStore(string dataDir)
    {
        _blobs = Path.Combine(dataDir, "blobs");
        Directory.CreateDirectory(_blobs);
    }

    public string Name => $"blobs (filesystem {_blobs})";

    public Task<string?> CheckAsync(CancellationToken ct)
    {
        try
        {
            var probe = Path.Combine(_blobs, ".ready-" + Guid.NewGuid().ToString("N"));
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return Task.FromResult<string?>(null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Task.FromResult<string?>(e.Message);
        }
    }

    public string PathOf(Digest digest) => Path.Combine(_blobs, digest.Algorithm, digest.Hex[..2], digest.Hex);

    public Task<long?> GetSizeAsync(Digest digest, CancellationToken ct)
    {
        var info = new FileInfo(PathOf(digest));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public Task<Stream?> OpenReadAsync(Digest digest, long offset, long? length, CancellationToken ct)
    {
        try
        {
            var stream = new FileStream(PathOf(digest), new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read | FileShare.Delete,
                BufferSize = 0, Options = FileOptions.SequentialScan,
            });
            stream.Seek(offset, SeekOrigin.Begin);
            return Task.FromResult<Stream?>(stream);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public async IAsyncEnumerable<(Digest Digest, long Size, DateTimeOffset Written)> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var algorithmDir in Directory.EnumerateDirectories(_blobs))
            foreach (var file in Directory.EnumerateFiles(algorithmDir, "*", SearchOption.AllDirectories))
            {
                ct.ThrowIfCancellationRequested();
                var info = new FileInfo(file);
                if (info.Exists && Digest.TryParse(Path.GetFileName(algorithmDir) + ":" + info.Name, out var digest))
                    yield return (digest, info.Length, info.LastWriteTimeUtc);
            }
        await Task.CompletedTask;
    }

    public Task DeleteAsync(Digest digest, CancellationToken ct)
    {
        File.Delete(PathOf(digest));
        return Task.CompletedTask;
    }

    public Task<IBlobWriter> BeginWriteAsync(Digest digest, Spool spool, CancellationToken ct) =>
        Task.FromResult<IBlobWriter>(new Writer(spool, PathOf(digest)));

    private sealed class Writer(Spool spool, string finalPath) : IBlobWriter
    {
        public ValueTask SpoolGrewAsync(CancellationToken ct) => ValueTask.CompletedTask;

        public Task CommitAsync(CancellationToken ct)
        {
            spool.FlushToDisk();
            Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
            // Same content under the same name: a concurrent writer's identical file may be replaced.
            File.Move(spool.Path, finalPath, overwrite: true);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the spool's owner removes an uncommitted spool
    }
}

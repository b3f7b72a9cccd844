using CacheRegistry.Oci;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.FileSystem;

/// <summary>
/// Blobs as files under <c>DataDir/blobs/&lt;algorithm&gt;/&lt;first two hex&gt;/&lt;hex&gt;</c>. A write goes to
/// <c>DataDir/tmp</c> and is fsynced and renamed into place on commit, so a crash never leaves a
/// partial blob visible; leftovers in tmp are removed at start.
/// </summary>
public sealed class FileSystemBlobStore : IBlobStore, IBlobInventory, IHealthProbe
{
    private readonly string _blobs;
    private readonly string _tmp;

    /// <param name="dataDir">The data dir.</param>
    /// <param name="clearTmp">True for the server, which owns tmp; false for commands running beside it.</param>
    public FileSystemBlobStore(string dataDir, bool clearTmp = true)
    {
        _blobs = Path.Combine(dataDir, "blobs");
        _tmp = Path.Combine(dataDir, "tmp");
        Directory.CreateDirectory(_blobs);
        if (clearTmp && Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true);
        Directory.CreateDirectory(_tmp);
    }

    public string Name => $"blobs (filesystem {_blobs})";

    public Task<string?> CheckAsync(CancellationToken ct)
    {
        try
        {
            var probe = Path.Combine(_tmp, ".ready-" + Guid.NewGuid().ToString("N"));
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

    public int RemoveOrphanSpoolFiles(TimeSpan olderThan) => SpoolFiles.RemoveOlderThan(_tmp, olderThan);

    public Task<IBlobWriter> BeginWriteAsync(Digest digest, CancellationToken ct) =>
        Task.FromResult<IBlobWriter>(new Writer(Path.Combine(_tmp, $"{digest.Hex}.{Guid.NewGuid():N}"), PathOf(digest)));

    private sealed class Writer(string tmpPath, string finalPath) : IBlobWriter
    {
        private readonly FileStream _file = new(tmpPath, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0, Options = FileOptions.Asynchronous,
        });
        private bool _committed;

        public string LocalPath => tmpPath;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct) => _file.WriteAsync(data, ct);

        public async Task CommitAsync(CancellationToken ct)
        {
            await _file.FlushAsync(ct);
            _file.Flush(flushToDisk: true);
            Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
            // Same content under the same name: a concurrent writer's identical file may be replaced.
            File.Move(tmpPath, finalPath, overwrite: true);
            _committed = true;
        }

        public async ValueTask DisposeAsync()
        {
            await _file.DisposeAsync();
            if (!_committed) File.Delete(tmpPath);
        }
    }
}

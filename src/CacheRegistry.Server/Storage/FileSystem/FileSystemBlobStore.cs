using System.Runtime.CompilerServices;
using CacheRegistry.Oci;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.FileSystem;

/// <summary>
/// Blobs as files under <c>DataDir/blobs/&lt;algorithm&gt;/&lt;first two hex&gt;/&lt;hex&gt;</c>. A blob's
/// spool (in <c>DataDir/spool</c>) is fsynced and renamed into place on commit, and the directory
/// fsynced after it, so a crash never leaves a partial blob visible nor loses a committed one.
/// Disk errors (full, read-only, I/O) mark the store down like any other store outage.
/// </summary>
internal sealed class FileSystemBlobStore : IBlobStore, IBlobInventory, IHealthProbe
{
    private readonly string _blobs;
    private readonly StoreCircuit _circuit;

    public FileSystemBlobStore(string dataDir, StoreHealth? health = null)
    {
        _blobs = Path.Combine(dataDir, "blobs");
        Directory.CreateDirectory(_blobs);
        _circuit = new StoreCircuit(Name, _ => ProbeAsync(), _ => false, health ?? StoreHealth.Default);
    }

    public string Name => $"blobs (filesystem {_blobs})";

    /// <summary>The directory whose file system holds the blobs, for free-space checks.</summary>
    public string? Volume => _blobs;

    public Task<string?> CheckAsync(CancellationToken ct) => _circuit.CheckAsync(ct);

    private Task ProbeAsync()
    {
        var probe = Path.Combine(_blobs, ".ready-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(probe, []);
        File.Delete(probe);
        return Task.CompletedTask;
    }

    public string PathOf(Digest digest) => Path.Combine(_blobs, digest.Algorithm, digest.Hex[..2], digest.Hex);

    public Task<long?> GetSizeAsync(Digest digest, CancellationToken ct) => _circuit.Run(() =>
    {
        var info = new FileInfo(PathOf(digest));
        return info.Exists ? info.Length : (long?)null;
    });

    public Task<Stream?> OpenReadAsync(Digest digest, long offset, long? length, CancellationToken ct) => _circuit.Run<Stream?>(() =>
    {
        try
        {
            var stream = new FileStream(PathOf(digest), new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read | FileShare.Delete,
                BufferSize = 0, Options = FileOptions.SequentialScan,
            });
            stream.Seek(offset, SeekOrigin.Begin);
            return stream;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    });

    public async IAsyncEnumerable<(Digest Digest, long Size, DateTimeOffset Written)> ListAsync([EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var algorithmDir in await _circuit.Run(() => Directory.GetDirectories(_blobs)))
            foreach (var prefixDir in await _circuit.Run(() => Directory.GetDirectories(algorithmDir)))
                foreach (var (digest, size, written) in await _circuit.Run(() => Blobs(algorithmDir, prefixDir)))
                {
                    ct.ThrowIfCancellationRequested();
                    yield return (digest, size, written);
                }
    }

    private static List<(Digest, long, DateTimeOffset)> Blobs(string algorithmDir, string prefixDir)
    {
        var list = new List<(Digest, long, DateTimeOffset)>();
        foreach (var file in Directory.EnumerateFiles(prefixDir))
        {
            var info = new FileInfo(file);
            if (info.Exists && Digest.TryParse(Path.GetFileName(algorithmDir) + ":" + info.Name, out var digest))
                list.Add((digest, info.Length, info.LastWriteTimeUtc));
        }
        return list;
    }

    public Task DeleteAsync(Digest digest, CancellationToken ct) => _circuit.Run(() =>
    {
        try
        {
            File.Delete(PathOf(digest));
        }
        catch (DirectoryNotFoundException)
        {
        }
        return true;
    });

    public Task<IBlobWriter> BeginWriteAsync(Digest digest, Spool spool, CancellationToken ct)
    {
        _circuit.ThrowIfDown();
        return Task.FromResult<IBlobWriter>(new Writer(spool, PathOf(digest), _circuit));
    }

    private sealed class Writer(Spool spool, string finalPath, StoreCircuit circuit) : IBlobWriter
    {
        public ValueTask SpoolGrewAsync(CancellationToken ct) => ValueTask.CompletedTask;

        public Task CommitAsync(CancellationToken ct) => circuit.Run(() =>
        {
            spool.FlushToDisk();
            var dir = Path.GetDirectoryName(finalPath)!;
            Directory.CreateDirectory(dir);
            // Same content under the same name: a concurrent writer's identical file may be replaced.
            File.Move(spool.Path, finalPath, overwrite: true);
            DirectorySync.Flush(dir); // the rename itself must survive a power loss
            return true;
        });

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the spool's owner removes an uncommitted spool
    }
}

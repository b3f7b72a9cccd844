using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>
/// Where blobs on their way in are spooled: <c>DataDir/spool</c>, beside the blobs so that the
/// filesystem store's commit is a rename. The server clears it at start; files left by a crash
/// of a process running beside it are removed by GC once older than the fill timeout.
/// </summary>
public sealed class SpoolDirectory
{
    private readonly TimeProvider _time;

    /// <param name="clear">True for the server, which owns the directory; false for commands running beside it.</param>
    public SpoolDirectory(string dataDir, TimeProvider time, bool clear)
    {
        _time = time;
        Path = System.IO.Path.Combine(dataDir, "spool");
        if (clear && Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public Spool Create(Digest digest) => new(System.IO.Path.Combine(Path, $"{digest.Hex}.{Guid.NewGuid():N}.spool"));

    /// <summary>Deletes spool files last written more than <paramref name="olderThan"/> ago; returns how many.</summary>
    public int RemoveOlderThan(TimeSpan olderThan)
    {
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(Path))
            if (_time.GetUtcNow().UtcDateTime - File.GetLastWriteTimeUtc(file) > olderThan)
            {
                File.Delete(file);
                removed++;
            }
        return removed;
    }
}

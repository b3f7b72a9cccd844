using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>
/// Where blobs on their way in are spooled: <c>DataDir/spool</c>, beside the blobs so that the
/// filesystem store's commit is a rename. The server clears it at start; files left by a crash
/// of a process running beside it are removed by GC once older than the fill timeout. A disk
/// error (full, read-only, I/O) marks the local disk down: blobs are then passed through from
/// the upstream, verified, until a probe can write again.
/// </summary>
public sealed class SpoolDirectory : IHealthProbe
{
    private const int ProbeBytes = 64 * 1024;
    private readonly TimeProvider _time;
    private readonly StoreCircuit _circuit;

    /// <param name="clear">True for the server, which owns the directory; false for commands running beside it.</param>
    public SpoolDirectory(string dataDir, StoreHealth health, bool clear)
    {
        _time = health.Time;
        Path = System.IO.Path.Combine(dataDir, "spool");
        if (clear && Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        Directory.CreateDirectory(Path);
        _circuit = new StoreCircuit(Name, ProbeAsync, _ => false, health);
    }

    public string Path { get; }
    public string Name => $"local disk ({Path})";
    public bool IsDown => _circuit.IsDown;

    /// <summary>Raised when a disk error (such as a full disk) marks the local disk down.</summary>
    public event EventHandler<string>? Failed
    {
        add => _circuit.WentDown += value;
        remove => _circuit.WentDown -= value;
    }

    public Spool Create(Digest digest)
    {
        _circuit.ThrowIfDown();
        try
        {
            return new Spool(System.IO.Path.Combine(Path, $"{digest.Hex}.{Guid.NewGuid():N}.spool"), _circuit);
        }
        catch (Exception e) when (_circuit.IsOutage(e))
        {
            throw _circuit.Failed(e.Message, e);
        }
    }

    public Task<string?> CheckAsync(CancellationToken ct) => _circuit.CheckAsync(ct);

    // Writing a little more than nothing: a full disk still creates empty files.
    private async Task ProbeAsync(CancellationToken ct)
    {
        var probe = System.IO.Path.Combine(Path, $".probe-{Guid.NewGuid():N}");
        try
        {
            await File.WriteAllBytesAsync(probe, new byte[ProbeBytes], ct);
        }
        finally
        {
            File.Delete(probe);
        }
    }

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

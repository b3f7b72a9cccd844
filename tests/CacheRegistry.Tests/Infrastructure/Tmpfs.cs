namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A small tmpfs mounted for one test, to fill a disk for real (needs root, as the suite runs in CI).</summary>
public sealed class Tmpfs : IAsyncDisposable
{
    private Tmpfs(string path) => Path = path;

    public string Path { get; }

    public static async Task<Tmpfs> MountAsync(string size)
    {
        var dir = Net.TempDir("tmpfs");
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("mount"), ["-t", "tmpfs", "-o", $"size={size}", "tmpfs", dir], TimeSpan.FromSeconds(10));
        return new Tmpfs(dir);
    }

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync(ProcessRunner.Require("umount"), ["-l", Path], TimeSpan.FromSeconds(10));
        Directory.Delete(Path, recursive: true);
    }
}

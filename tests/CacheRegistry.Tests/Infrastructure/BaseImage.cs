namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A Debian bookworm base image made here (no image registry is reachable): debootstrap's minbase
/// root filesystem from the archive apt uses, imported into a dockerd. The root filesystem is kept
/// in the user's cache folder, so a machine makes it once.
/// </summary>
public static class BaseImage
{
    public const string Name = "cacheregistry-test-base:bookworm";
    private static readonly SemaphoreSlim OneAtATime = new(1, 1);

    public static async Task ImportAsync(DockerDaemon docker)
    {
        var cache = Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".cache"), "cacheregistry-tests");
        var tarball = Path.Combine(cache, "bookworm-minbase.tar");
        await OneAtATime.WaitAsync();
        try
        {
            if (!File.Exists(tarball))
            {
                var rootfs = Net.TempDir("rootfs");
                await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("debootstrap"), ["--variant=minbase", "bookworm", rootfs, MirrorUrl()], TimeSpan.FromMinutes(10));
                Directory.CreateDirectory(cache);
                await ProcessRunner.RunCheckedAsync("tar", ["-C", rootfs, "-cf", tarball + ".part", "."], TimeSpan.FromMinutes(5));
                File.Move(tarball + ".part", tarball, overwrite: true);
                await ProcessRunner.RunAsync("rm", ["-rf", rootfs]);
            }
        }
        finally
        {
            OneAtATime.Release();
        }
        await docker.DockerAsync("import", tarball, Name);
    }

    /// <summary>The Debian archive apt on this machine uses (deb822 or one-line sources).</summary>
    private static string MirrorUrl()
    {
        foreach (var file in Directory.EnumerateFiles("/etc/apt", "*.sources", SearchOption.AllDirectories).Concat(Directory.EnumerateFiles("/etc/apt", "*.list", SearchOption.AllDirectories)))
            foreach (var line in File.ReadLines(file))
            {
                var url = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(w => w.StartsWith("http", StringComparison.Ordinal) && w.TrimEnd('/').EndsWith("/debian", StringComparison.Ordinal));
                if (url is not null && !line.TrimStart().StartsWith('#')) return url;
            }
        return "http://deb.debian.org/debian";
    }
}

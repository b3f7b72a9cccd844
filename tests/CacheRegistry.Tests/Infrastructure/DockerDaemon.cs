using System.Text.Json;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A private dockerd using a given containerd, with <c>registry-mirrors</c> pointing at the cache.</summary>
public sealed class DockerDaemon : IAsyncDisposable
{
    private readonly string _dir = Path.Combine("/tmp", "dkr-" + Guid.NewGuid().ToString("N")[..8]);
    private ServerProcess? _process;

    public string Host => $"unix://{_dir}/docker.sock";

    public async Task StartAsync(string containerdSocket, string mirrorUrl)
    {
        Directory.CreateDirectory(_dir);
        var config = Path.Combine(_dir, "daemon.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["registry-mirrors"] = new[] { mirrorUrl },
            ["iptables"] = false,
            ["ip-masq"] = false,
            ["bridge"] = "none",
            ["storage-driver"] = "vfs",
            ["containerd"] = containerdSocket,
            ["data-root"] = Path.Combine(_dir, "data"),
            ["exec-root"] = Path.Combine(_dir, "exec"),
            ["pidfile"] = Path.Combine(_dir, "docker.pid"),
            ["hosts"] = new[] { Host },
        }));
        _process = new ServerProcess(ProcessRunner.Require("dockerd"), ["--config-file", config]);
        _process.Start();
        await Net.WaitUntilAsync(async () => (await ProcessRunner.RunAsync(ProcessRunner.Require("docker"), ["-H", Host, "version"])).ExitCode == 0,
            TimeSpan.FromSeconds(60), "dockerd");
    }

    public Task<string> DockerAsync(params string[] args) =>
        ProcessRunner.RunCheckedAsync(ProcessRunner.Require("docker"), ["-H", Host, .. args], TimeSpan.FromMinutes(3));

    /// <summary>The repository digest docker recorded for the image (the digest it pulled by).</summary>
    public async Task<string> RepoDigestAsync(string image)
    {
        var output = (await DockerAsync("image", "inspect", "--format", "{{json .RepoDigests}}", image)).Trim();
        var digests = JsonSerializer.Deserialize<string[]>(output)!;
        return digests.Single().Split('@')[1];
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        await ProcessRunner.RunAsync("umount", ["-R", _dir]);
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

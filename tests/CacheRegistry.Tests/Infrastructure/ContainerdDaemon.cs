namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A private containerd (own root, state and socket; CRI off) and ctr as its client.</summary>
public sealed class ContainerdDaemon : IAsyncDisposable
{
    private readonly string _dir = Path.Combine("/tmp", "crt-" + Guid.NewGuid().ToString("N")[..8]); // short: socket paths are limited
    private ServerProcess? _process;

    public string Socket => Path.Combine(_dir, "containerd.sock");
    public string HostsDir => Path.Combine(_dir, "hosts");

    public async Task StartAsync()
    {
        Directory.CreateDirectory(_dir);
        var config = Path.Combine(_dir, "config.toml");
        await File.WriteAllTextAsync(config, $"""
            version = 2
            root = "{_dir}/root"
            state = "{_dir}/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "{Socket}"
            """);
        _process = new ServerProcess(ProcessRunner.Require("containerd"), ["--config", config]);
        _process.Start();
        await Net.WaitUntilAsync(async () => (await ProcessRunner.RunAsync(ProcessRunner.Require("ctr"), ["-a", Socket, "version"])).ExitCode == 0,
            TimeSpan.FromSeconds(30), "containerd");
    }

    /// <summary>Writes <c>hosts.toml</c> sending <paramref name="registryHost"/> to the mirror.</summary>
    public void MirrorTo(string registryHost, string mirrorUrl)
    {
        var dir = Path.Combine(HostsDir, registryHost);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "hosts.toml"), $"""
            server = "https://{registryHost}"

            [host."{mirrorUrl}"]
              capabilities = ["pull", "resolve"]
            """);
    }

    /// <summary>
    /// Writes the hosts.toml files of <c>cacheregistry client-config --only containerd</c> output
    /// as a node's operator would, with <paramref name="rewrite"/> applied (tests point the public
    /// origins at loopback).
    /// </summary>
    public void UseClientConfig(string rendered, Func<string, string> rewrite)
    {
        const string prefix = "# /etc/containerd/certs.d/";
        foreach (var block in rendered.Split(prefix).Skip(1))
        {
            var host = block[..block.IndexOf("/hosts.toml", StringComparison.Ordinal)];
            Directory.CreateDirectory(Path.Combine(HostsDir, host));
            File.WriteAllText(Path.Combine(HostsDir, host, "hosts.toml"), rewrite(block[(block.IndexOf('\n') + 1)..]));
        }
    }

    public Task<string> CtrAsync(params string[] args) =>
        ProcessRunner.RunCheckedAsync(ProcessRunner.Require("ctr"), ["-a", Socket, .. args], TimeSpan.FromMinutes(3));

    public async Task PullAsync(string reference) =>
        await CtrAsync("images", "pull", "--hosts-dir", HostsDir, "--snapshotter", "native", reference);

    /// <summary>The digest containerd recorded for an image reference.</summary>
    public async Task<string> DigestOfAsync(string reference)
    {
        var listing = await CtrAsync("images", "ls");
        var line = listing.Split('\n').FirstOrDefault(l => l.StartsWith(reference + " ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{reference} is not in:\n{listing}");
        return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).First(c => c.StartsWith("sha256:", StringComparison.Ordinal));
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        await ProcessRunner.RunAsync("umount", ["-R", _dir]); // snapshot mounts, if any
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

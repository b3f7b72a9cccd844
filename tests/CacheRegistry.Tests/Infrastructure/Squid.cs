namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real squid on a free loopback port with its own config and access log.</summary>
public sealed class Squid : IAsyncDisposable
{
    private readonly string _dir = Net.TempDir("squid");
    private ServerProcess? _process;

    public int Port { get; } = Net.FreePort();
    public string Url => $"http://127.0.0.1:{Port}";
    public string AccessLog => File.Exists(Path.Combine(_dir, "access.log")) ? File.ReadAllText(Path.Combine(_dir, "access.log")) : "";

    public async Task StartAsync()
    {
        var config = Path.Combine(_dir, "squid.conf");
        await File.WriteAllTextAsync(config, $"""
            http_port 127.0.0.1:{Port}
            http_access allow all
            cache deny all
            access_log stdio:{_dir}/access.log
            cache_log {_dir}/cache.log
            pid_filename {_dir}/squid.pid
            coredump_dir {_dir}
            shutdown_lifetime 0 seconds
            """);
        // squid drops to the "proxy" user and must be able to write its folder.
        await ProcessRunner.RunAsync("chown", ["-R", "proxy", _dir]);
        _process = new ServerProcess(ProcessRunner.Require("squid"), ["-f", config, "-N"]);
        _process.Start();
        await Net.WaitForPortAsync(Port, "squid", () => _process.OutputText + ReadIfExists(Path.Combine(_dir, "cache.log")));
    }

    public Task StopAsync() => _process?.KillAsync() ?? Task.CompletedTask;

    private static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

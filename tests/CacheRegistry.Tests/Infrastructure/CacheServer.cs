using CacheRegistry.Server.Hosting;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>CacheRegistry itself on a real loopback port, in this process, with its own data dir.</summary>
public sealed class CacheServer : IAsyncDisposable
{
    private WebApplication? _app;

    public string DataDir { get; }
    public string[] Args { get; }
    public int Port { get; private set; }
    public string Address => $"127.0.0.1:{Port}";
    public string Url => $"http://{Address}";

    private CacheServer(string dataDir, string[] args)
    {
        DataDir = dataDir;
        Args = args;
    }

    /// <summary>Starts a cache whose docker.io upstream is <paramref name="upstreamUrl"/>.</summary>
    public static Task<CacheServer> StartAsync(string upstreamUrl, params string[] extraArgs) =>
        StartWithArgsAsync(Net.TempDir("cache"), ["--Registry:Upstreams:docker.io:Endpoints:0=" + upstreamUrl, .. extraArgs]);

    public static async Task<CacheServer> StartWithArgsAsync(string dataDir, string[] args, int port = 0)
    {
        var server = new CacheServer(dataDir, args);
        await server.RunAsync(port);
        return server;
    }

    private async Task RunAsync(int port)
    {
        _app = CacheRegistryApp.Build(["--urls=http://127.0.0.1:" + port, "--Registry:DataDir=" + DataDir,
            "--Registry:Timeouts:Connect=00:00:03", "--Registry:Timeouts:Shutdown=00:00:02", .. Args]);
        await _app.StartAsync();
        Port = new Uri(LoopbackApp.BoundUrl(_app)).Port;
    }

    /// <summary>Stops and starts again on the same port and data dir (a restart).</summary>
    public async Task RestartAsync()
    {
        var port = Port;
        await StopAsync();
        await RunAsync(port);
    }

    public async Task StopAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    public T Service<T>() where T : notnull => _app!.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>CacheRegistry as a separate process (the real binary), for replicas, crashes and exact environments.</summary>
public sealed class CacheProcess : IAsyncDisposable
{
    private readonly ServerProcess _process;

    public CacheProcess(IEnumerable<string> args, IDictionary<string, string?>? env = null, string? dataDir = null, int? port = null)
    {
        Port = port ?? Net.FreePort();
        DataDir = dataDir ?? Net.TempDir("proc");
        var binary = Path.Combine(AppContext.BaseDirectory, "cacheregistry");
        _process = new ServerProcess(binary, ["--urls=http://127.0.0.1:" + Port, "--Registry:DataDir=" + DataDir, .. args], env);
    }

    public int Port { get; }
    public string DataDir { get; }
    public string Address => $"127.0.0.1:{Port}";
    public string Url => $"http://{Address}";
    public string Log => _process.OutputText;

    public long ResidentBytes() => _process.ResidentBytes();

    public async Task StartAsync()
    {
        _process.Start();
        using var http = Net.NewHttpClient();
        try
        {
            await Net.WaitUntilAsync(async () => (await http.GetAsync(Url + "/healthz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "cacheregistry process");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\n" + Log, e);
        }
    }

    public Task KillAsync() => _process.KillAsync();

    public bool IsRunning => _process.IsRunning;

    /// <summary>SIGTERM, as Kubernetes stops a pod; the exit code once it has exited.</summary>
    public Task<int> TerminateAsync(TimeSpan within) => _process.TerminateAsync(within);

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

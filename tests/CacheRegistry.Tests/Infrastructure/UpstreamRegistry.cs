namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A real distribution registry (Debian's docker-registry) on a free loopback port. Its access log
/// (stderr) is kept, so tests count exactly which requests reached the upstream.
/// </summary>
public sealed class UpstreamRegistry : IAsyncDisposable
{
    private readonly string _dir = Net.TempDir("upstream");
    private ServerProcess? _process;

    public int Port { get; } = Net.FreePort();
    public string Address => $"127.0.0.1:{Port}";
    public string Url => $"http://{Address}";
    public bool IsRunning => _process?.IsRunning == true;

    /// <summary>Extra YAML (such as an auth section) appended to the config, given the registry's own folder.</summary>
    public Func<string, string> ExtraConfig { get; init; } = _ => "";

    public async Task StartAsync()
    {
        var binary = ProcessRunner.Require("docker-registry");
        var config = Path.Combine(_dir, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: info
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: {Path.Combine(_dir, "storage")}
              delete:
                enabled: true
            http:
              addr: {Address}

            """ + ExtraConfig(_dir));
        // One process object across restarts, so its access log (and every Mark) spans them.
        _process ??= new ServerProcess(binary, ["serve", config]);
        _process.Start();
        using var http = Net.NewHttpClient();
        await Net.WaitUntilAsync(async () =>
        {
            using var response = await http.GetAsync($"{Url}/v2/");
            return response.IsSuccessStatusCode || response.StatusCode == System.Net.HttpStatusCode.Unauthorized;
        }, TimeSpan.FromSeconds(20), "docker-registry");
    }

    public Task StopAsync() => _process?.KillAsync() ?? Task.CompletedTask;

    private IEnumerable<string> AccessLog => _process?.Output ?? Enumerable.Empty<string>();

    /// <summary>Log lines seen so far; take a mark before an action and count requests after it.</summary>
    /// <summary>
    /// The position in the access log after everything sent so far: fenced, since the registry
    /// writes a request's line after its response, and a late line from before would otherwise
    /// count as after.
    /// </summary>
    public async Task<int> MarkAsync()
    {
        await FenceAsync();
        return AccessLog.Count();
    }

    /// <summary>
    /// Waits until every request sent before now is in the access log, which the process writes
    /// and this test reads asynchronously: a marker request is sent and its line awaited. Counting
    /// requests (above all, asserting that none came) is only sound after a fence.
    /// </summary>
    public async Task FenceAsync()
    {
        var id = Guid.NewGuid().ToString("N");
        using (var http = Net.NewHttpClient())
        using (await http.GetAsync($"{Url}/v2/?fence={id}")) { }
        await Net.WaitUntilAsync(() => Task.FromResult(AccessLog.Any(l => IsRequest(l) && l.Contains(id, StringComparison.Ordinal))), TimeSpan.FromSeconds(10), "the fence in the registry's access log");
    }

    // Access-log lines look like: 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 ...; fences are left out.
    private static bool IsRequest(string line) => line.Contains(" HTTP/1.1\" ", StringComparison.Ordinal) && line.Contains("] \"", StringComparison.Ordinal);

    private static bool IsFence(string line) => line.Contains("/v2/?fence=", StringComparison.Ordinal);

    /// <summary>Requests since <paramref name="mark"/> (after a fence) whose method and path match.</summary>
    public async Task<IReadOnlyList<string>> RequestsSinceAsync(int mark, string method, string pathPart)
    {
        await FenceAsync();
        return AccessLog.Skip(mark).Where(l => IsRequest(l) && !IsFence(l) && l.Contains($"\"{method} ", StringComparison.Ordinal) && l.Contains(pathPart, StringComparison.Ordinal)).ToList();
    }

    /// <summary>Every request since <paramref name="mark"/> (after a fence).</summary>
    public async Task<IReadOnlyList<string>> AllRequestsSinceAsync(int mark)
    {
        await FenceAsync();
        return AccessLog.Skip(mark).Where(l => IsRequest(l) && !IsFence(l)).ToList();
    }

    public async Task<int> BlobGetsSinceAsync(int mark, string repository) => (await RequestsSinceAsync(mark, "GET", $"/v2/{repository}/blobs/")).Count;

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

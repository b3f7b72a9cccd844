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

    /// <summary>Access-log lines seen so far; take <see cref="Mark"/> before an action and count after it.</summary>
    public int Mark => AccessLog.Count();

    public IReadOnlyList<string> RequestsSince(int mark, string method, string pathPart) =>
        AccessLog.Skip(mark).Where(l => l.Contains($"\"{method} ", StringComparison.Ordinal) && l.Contains(pathPart, StringComparison.Ordinal)).ToList();

    public int BlobGetsSince(int mark, string repository) => RequestsSince(mark, "GET", $"/v2/{repository}/blobs/").Count;

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

using System.Collections.Concurrent;
using System.Diagnostics;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A real distribution registry (Debian's docker-registry) on a free loopback port. Its access log
/// (stderr) is kept, so tests count exactly which requests reached the upstream.
/// </summary>
public sealed class UpstreamRegistry : IAsyncDisposable
{
    private readonly string _dir = Net.TempDir("upstream");
    private readonly ConcurrentQueue<string> _log = new();
    private Process? _process;

    public int Port { get; } = Net.FreePort();
    public string Address => $"127.0.0.1:{Port}";
    public string Url => $"http://{Address}";
    public bool IsRunning => _process is { HasExited: false };

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
        var psi = new ProcessStartInfo(binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(config);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _log.Enqueue(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _log.Enqueue(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        using var http = Net.NewHttpClient();
        await Net.WaitUntilAsync(async () => (await http.GetAsync($"{Url}/v2/")).IsSuccessStatusCode
            || (int)(await http.GetAsync($"{Url}/v2/")).StatusCode == 401, TimeSpan.FromSeconds(20), "docker-registry");
    }

    public async Task StopAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>Access-log lines seen so far; take <see cref="Mark"/> before an action and count after it.</summary>
    public int Mark => _log.Count;

    public IReadOnlyList<string> RequestsSince(int mark, string method, string pathPart) =>
        _log.Skip(mark).Where(l => l.Contains($"\"{method} ", StringComparison.Ordinal) && l.Contains(pathPart, StringComparison.Ordinal)).ToList();

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

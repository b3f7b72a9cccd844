using System.Collections.Concurrent;
using System.Diagnostics;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A long-running child process whose output is kept, that can be stopped and started again.</summary>
public sealed class ServerProcess(string file, IReadOnlyList<string> args, IDictionary<string, string?>? env = null) : IAsyncDisposable
{
    private Process? _process;

    public ConcurrentQueue<string> Output { get; } = new();
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The process's resident memory, from /proc.</summary>
    public long ResidentBytes()
    {
        var line = File.ReadLines($"/proc/{_process!.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    public void Start()
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env)
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) Output.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Output.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>SIGKILL, as a crash or an OOM kill would.</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod; returns the exit code once it has exited (within <paramref name="within"/>).</summary>
    public async Task<int> TerminateAsync(TimeSpan within)
    {
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("kill"), ["-TERM", _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        using var cts = new CancellationTokenSource(within);
        await _process.WaitForExitAsync(cts.Token);
        // The output of a process that exited arrives asynchronously: this second wait drains it.
        await _process.WaitForExitAsync(CancellationToken.None);
        return _process.ExitCode;
    }

    public string OutputText => string.Join('\n', Output);

    public ValueTask DisposeAsync() => new(KillAsync());
}

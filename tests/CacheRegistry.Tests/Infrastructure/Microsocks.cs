namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real microsocks SOCKS5 proxy; its output logs every connection it makes.</summary>
public sealed class Microsocks : IAsyncDisposable
{
    private readonly ServerProcess _process;

    public Microsocks()
    {
        Port = Net.FreePort();
        _process = new ServerProcess(ProcessRunner.Require("microsocks"), ["-i", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
    }

    public int Port { get; }
    public string Url => $"socks5://127.0.0.1:{Port}";
    public string Log => _process.OutputText;

    public async Task StartAsync()
    {
        _process.Start();
        await Net.WaitForPortAsync(Port, "microsocks", () => _process.OutputText);
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

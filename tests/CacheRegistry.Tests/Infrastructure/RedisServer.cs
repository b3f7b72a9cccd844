using System.Net.Sockets;
using System.Text;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real redis-server on a free loopback port, stoppable to simulate an outage.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly ServerProcess _process;

    public RedisServer()
    {
        Port = Net.FreePort();
        _process = new ServerProcess(ProcessRunner.Require("redis-server"),
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    }

    public int Port { get; }
    public string Configuration => $"127.0.0.1:{Port}";

    public async Task StartAsync()
    {
        _process.Start();
        await Net.WaitUntilAsync(PingAsync, TimeSpan.FromSeconds(20), "redis-server");
    }

    public Task StopAsync() => _process.KillAsync();

    private async Task<bool> PingAsync()
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", Port);
        var stream = client.GetStream();
        await stream.WriteAsync("PING\r\n"u8.ToArray());
        var buffer = new byte[16];
        var n = await stream.ReadAsync(buffer);
        return Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG", StringComparison.Ordinal);
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

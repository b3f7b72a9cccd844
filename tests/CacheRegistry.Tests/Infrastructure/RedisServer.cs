using System.Net.Sockets;
using System.Text;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real redis-server on a free loopback port, stoppable to simulate an outage.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly ServerProcess _process;

    private readonly string _dir = Net.TempDir("redis");

    /// <param name="cluster">Start as a Redis Cluster node (its cluster is made with <see cref="RedisCluster"/>).</param>
    /// <param name="replicaOf">Start as a replica of the server on this loopback port (see <see cref="RedisSentinels"/>).</param>
    /// <param name="port">Listen on this port (a relay made before the server forwards to it); a free one when null.</param>
    /// <param name="announcePort">A cluster node that tells clients to reach it on this port (a relay in front of it).</param>
    public RedisServer(bool cluster = false, int? replicaOf = null, int? port = null, int? announcePort = null)
    {
        Port = port ?? Net.FreePort();
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        _process = new ServerProcess(ProcessRunner.Require("redis-server"),
        [
            "--port", Port.ToString(invariant), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", _dir, .. cluster ? new[] { "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000" } : [],
            .. replicaOf is { } master ? new[] { "--replicaof", "127.0.0.1", master.ToString(invariant) } : [],
            // The bus stays direct (its default port), so only clients go through the relay.
            .. announcePort is { } announced ? new[] { "--cluster-announce-ip", "127.0.0.1", "--cluster-announce-port", announced.ToString(invariant),
                "--cluster-announce-bus-port", (Port + 10000).ToString(invariant) } : [],
        ]);
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

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

using System.Globalization;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A real Redis set watched by Sentinel on loopback: a master, one replica and three sentinels
/// (redis-server in sentinel mode), so a test can kill the master and watch the failover.
/// </summary>
public sealed class RedisSentinels : IAsyncDisposable
{
    public const string ServiceName = "cachemaster";
    private readonly string _dir = Net.TempDir("sentinel");
    private readonly List<ServerProcess> _sentinels = [];

    /// <param name="masterBehindRelay">
    /// The sentinels name the master at a <see cref="FaultRelay"/> in front of it (<see cref="MasterRelay"/>),
    /// so clients reach it through the relay; they wait a minute before calling it down, so a short
    /// fault there is not a failover.
    /// </param>
    public RedisSentinels(bool masterBehindRelay = false)
    {
        Master = new RedisServer();
        Replica = new RedisServer(replicaOf: Master.Port);
        SentinelPorts = [Net.FreePort(), Net.FreePort(), Net.FreePort()];
        if (masterBehindRelay) MasterRelay = new FaultRelay(Master.Port);
    }

    public RedisServer Master { get; }
    public FaultRelay? MasterRelay { get; }
    public RedisServer Replica { get; }
    public IReadOnlyList<int> SentinelPorts { get; }

    /// <summary>The connection string an operator writes: the sentinels and the service name.</summary>
    public string Configuration => string.Join(",", SentinelPorts.Select(p => $"127.0.0.1:{p}")) + ",serviceName=" + ServiceName;

    public async Task StartAsync()
    {
        await Master.StartAsync();
        await Replica.StartAsync();
        foreach (var port in SentinelPorts)
        {
            // Sentinel rewrites its file, so each has its own.
            var file = Path.Combine(_dir, $"sentinel-{port}.conf");
            await File.WriteAllTextAsync(file, string.Join('\n',
                $"port {port}", "bind 127.0.0.1", $"dir {_dir}",
                $"sentinel monitor {ServiceName} 127.0.0.1 {MasterRelay?.Port ?? Master.Port} 2",
                // Known from the start, as Sentinel writes it into its own file: discovery through the
                // master's INFO (every 10 s) took over 40 s once under the full suite's load.
                $"sentinel known-replica {ServiceName} 127.0.0.1 {Replica.Port}",
                $"sentinel down-after-milliseconds {ServiceName} {(MasterRelay is null ? 1000 : 60000)}",
                $"sentinel failover-timeout {ServiceName} 10000", ""));
            var sentinel = new ServerProcess(ProcessRunner.Require("redis-server"), [file, "--sentinel"]);
            sentinel.Start();
            _sentinels.Add(sentinel);
        }
        // A failover needs the replica known to every sentinel.
        foreach (var port in SentinelPorts)
            await Net.WaitUntilAsync(async () => (await CliAsync(port, "sentinel", "replicas", ServiceName)).Contains($"{Replica.Port}", StringComparison.Ordinal),
                TimeSpan.FromSeconds(40), $"sentinel {port} knows the replica");
    }

    /// <summary>The port Sentinel names as the master now.</summary>
    public async Task<int> MasterPortAsync()
    {
        var lines = (await CliAsync(SentinelPorts[0], "sentinel", "get-master-addr-by-name", ServiceName)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return int.Parse(lines[^1].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>redis-cli against one port, its output.</summary>
    public static async Task<string> CliAsync(int port, params string[] args) =>
        (await ProcessRunner.RunAsync(ProcessRunner.Require("redis-cli"), ["-p", port.ToString(CultureInfo.InvariantCulture), .. args])).Output;

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _sentinels) await s.DisposeAsync();
        await Replica.DisposeAsync();
        await Master.DisposeAsync();
        if (MasterRelay is not null) await MasterRelay.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

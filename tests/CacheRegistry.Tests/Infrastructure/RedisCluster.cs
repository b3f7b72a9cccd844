namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real three-master Redis Cluster on loopback (redis-server nodes joined by redis-cli).</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    /// <param name="behindRelays">Each node behind a <see cref="FaultRelay"/> that it announces as its address, so every client connection goes through one.</param>
    public RedisCluster(bool behindRelays = false)
    {
        if (!behindRelays)
        {
            Nodes = [new(cluster: true), new(cluster: true), new(cluster: true)];
            return;
        }
        var ports = new[] { Net.FreePort(), Net.FreePort(), Net.FreePort() };
        Relays = [.. ports.Select(p => new FaultRelay(p))];
        Nodes = [.. ports.Select((p, i) => new RedisServer(cluster: true, port: p, announcePort: Relays[i].Port))];
    }

    public IReadOnlyList<RedisServer> Nodes { get; }
    public IReadOnlyList<FaultRelay> Relays { get; } = [];

    /// <summary>Every node (through its relay, if any), as a StackExchange.Redis connection string.</summary>
    public string Configuration => Relays.Count > 0 ? string.Join(",", Relays.Select(r => r.Address)) : string.Join(",", Nodes.Select(n => n.Configuration));

    public async Task StartAsync()
    {
        await Task.WhenAll(Nodes.Select(n => n.StartAsync()));
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("redis-cli"),
            ["--cluster", "create", .. Nodes.Select(n => n.Configuration), "--cluster-replicas", "0", "--cluster-yes"], TimeSpan.FromSeconds(30));
        await Net.WaitUntilAsync(async () =>
            (await ProcessRunner.RunAsync(ProcessRunner.Require("redis-cli"), ["-p", Nodes[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "cluster", "info"]))
                .Output.Contains("cluster_state:ok", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "redis cluster");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes) await node.DisposeAsync();
        foreach (var relay in Relays) await relay.DisposeAsync();
    }
}

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real three-master Redis Cluster on loopback (redis-server nodes joined by redis-cli).</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    public IReadOnlyList<RedisServer> Nodes { get; } = [new(cluster: true), new(cluster: true), new(cluster: true)];

    /// <summary>Every node, as a StackExchange.Redis connection string.</summary>
    public string Configuration => string.Join(",", Nodes.Select(n => n.Configuration));

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
    }
}

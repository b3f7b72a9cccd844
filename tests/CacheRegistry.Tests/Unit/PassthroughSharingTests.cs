using System.Collections.Concurrent;
using CacheRegistry.Cluster;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

/// <summary>Passthrough decisions through the replicas' shared state (an in-memory stand-in for Redis, which SharedStateTests use for real).</summary>
public sealed class PassthroughSharingTests
{
    private sealed class InMemoryState : ISharedState
    {
        public ConcurrentDictionary<string, string> Values { get; } = new();
        public Task<string?> GetAsync(string key, CancellationToken ct) => Task.FromResult(Values.GetValueOrDefault(key));
        public Task SetAsync(string key, string value, DateTimeOffset expires, CancellationToken ct) => Task.FromResult(Values[key] = value);
        public Task<long?> AddAsync(string key, long delta, DateTimeOffset expires, CancellationToken ct) => Task.FromResult<long?>(null);
    }

    [Fact]
    public async Task A_refusal_one_replica_saw_holds_on_another_without_asking_the_upstream_and_names_no_user()
    {
        var options = new RegistryOptions { Upstreams = { ["docker.io"] = new() { Endpoints = ["http://127.0.0.1:1"] } } };
        using var upstreams = new UpstreamSet(options, TimeProvider.System, NullLoggerFactory.Instance);
        var repo = new RepositoryRef(upstreams.Find("docker.io")!, "team/private");
        var shared = new InMemoryState();
        var (a, b) = (new PassthroughAccess(options, TimeProvider.System, shared), new PassthroughAccess(options, TimeProvider.System, shared));

        var refusedOnA = await Assert.ThrowsAsync<RegistryError>(() => a.CheckAsync(repo, "1", "MANIFEST_UNKNOWN",
            _ => throw new UpstreamException(UpstreamFailure.Unauthorized, "401"), CancellationToken.None));
        var asked = false;
        var refusedOnB = await Assert.ThrowsAsync<RegistryError>(() => b.CheckAsync(repo, "2", "MANIFEST_UNKNOWN", _ =>
        {
            asked = true;
            return Task.CompletedTask;
        }, CancellationToken.None));

        Assert.False(asked);
        Assert.Equal((refusedOnA.Status, refusedOnA.Code, refusedOnA.Message, refusedOnA.Challenge), (refusedOnB.Status, refusedOnB.Code, refusedOnB.Message, refusedOnB.Challenge));
        Assert.All(shared.Values.Keys, k => Assert.DoesNotContain("team/private", k, StringComparison.Ordinal));
    }
}

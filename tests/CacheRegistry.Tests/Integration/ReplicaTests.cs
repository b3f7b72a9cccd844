using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Several server processes sharing one Redis and one bucket, and what happens when either goes away.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class ReplicaTests(UpstreamFixture fx, BackendsFixture backends)
{
    private string[] SharedArgs(string prefix) =>
    [
        "--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url,
        "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + backends.Redis.Configuration,
        "--Registry:Metadata:KeyPrefix=" + prefix, .. backends.S3.Args(prefix),
    ];

    [Fact]
    public async Task An_image_pulled_through_one_replica_is_served_by_another_without_the_upstream()
    {
        var prefix = $"rep{Guid.NewGuid():N}/";
        await using var a = new CacheProcess(SharedArgs(prefix));
        await using var b = new CacheProcess([.. SharedArgs(prefix), "--Logging:HitSampling=1"]);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        var image = fx.DockerBig;

        Assert.Equal(image.Digest, await Skopeo.PullAsync(a.Address, $"{image.Repository}:{image.Tag}"));
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(image.Digest, await Skopeo.PullAsync(b.Address, $"{image.Repository}:{image.Tag}"));
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
        Assert.Contains(" hit ", b.Log);
    }

    [Fact]
    public async Task A_purge_on_one_replica_reaches_the_memory_of_the_others()
    {
        var prefix = $"purge{Guid.NewGuid():N}/";
        await using var a = new CacheProcess([.. SharedArgs(prefix), "--Registry:Admin:Token=admin"]);
        await using var b = new CacheProcess(SharedArgs(prefix));
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(a.Address, "small:1"));
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(b.Address, "small:1")); // B holds the tag in memory now

        using var http = Net.NewHttpClient();
        using var purge = new HttpRequestMessage(HttpMethod.Post, $"{a.Url}/admin/purge?image=small:1");
        purge.Headers.Authorization = new("Bearer", "admin");
        (await http.SendAsync(purge)).EnsureSuccessStatusCode();
        await Net.WaitUntilAsync(() => Task.FromResult(b.Log.Contains("in-memory tags and manifests dropped", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20), "the purge reaching replica B");

        // B no longer knows the tag: it asks the upstream again instead of answering from memory.
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(b.Address, "small:1"));
        Assert.NotEmpty(await fx.Upstream.RequestsSinceAsync(mark, "GET", "/v2/library/small/manifests/1"));
    }

    [Fact]
    public async Task Redis_and_s3_outages_degrade_gracefully_and_recover_without_a_restart()
    {
        await using var redis = new RedisServer();
        await using var s3 = new S3Server();
        await s3.StartAsync();
        // Redis is down from the very start.
        await using var cache = new CacheProcess([
            "--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url,
            "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + redis.Configuration, .. s3.Args()]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();

        // Degraded is still ready (pulls work); ?strict says a store is down.
        var degraded = await http.GetAsync(cache.Url + "/readyz");
        Assert.Equal(HttpStatusCode.OK, degraded.StatusCode);
        Assert.Contains($"redis {redis.Configuration}", await degraded.Content.ReadAsStringAsync());
        var notReady = await http.GetAsync(cache.Url + "/readyz?strict");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains($"redis {redis.Configuration}", await notReady.Content.ReadAsStringAsync());
        // Tags straight from the upstream, blobs by digest: pulls keep working.
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Contains("metadata store down", cache.Log);

        await redis.StartAsync();
        await Net.WaitUntilAsync(async () => (await http.GetAsync(cache.Url + "/readyz?strict")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "ready after redis start");
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));

        await s3.StopAsync();
        var s3Down = await http.GetAsync(cache.Url + "/readyz?strict");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, s3Down.StatusCode);
        Assert.Contains("s3", await s3Down.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(cache.Url + "/healthz")).StatusCode);
        // Blobs stream from the upstream, verified, without being stored.
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1"));
        Assert.Contains("not stored (blob store down)", cache.Log);

        await s3.StartAsync();
        await Net.WaitUntilAsync(async () => (await http.GetAsync(cache.Url + "/readyz?strict")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "ready after s3 start");
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1"));
        Assert.True(await fx.Upstream.BlobGetsSinceAsync(mark, fx.DockerList.Repository) > 0); // stored this time
        mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, fx.DockerList.Repository));
    }
}

using System.Diagnostics;
using System.Net;
using CacheRegistry.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Redis as operators run it: a master and a replica watched by three sentinels, the cache given
/// only the sentinels and the service name. The master is killed with SIGKILL in the middle of a
/// load: pulls go on, GC deletes nothing while the set fails over, what was recorded before is on
/// the promoted replica, and new metadata lands there within the documented bound.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class SentinelTests(UpstreamFixture fx, BackendsFixture backends, ITestOutputHelper output)
{
    // README, "Redis with Sentinel": new metadata lands on the promoted replica within 30 s of the master's death.
    private static readonly TimeSpan FailoverBound = TimeSpan.FromSeconds(30);
    private const string Repository = "docker.io/library/small";

    [Fact]
    public async Task The_cache_follows_a_sentinel_failover_losing_nothing_and_gc_deletes_nothing_meanwhile()
    {
        await using var redis = new RedisSentinels();
        await redis.StartAsync();
        var prefix = $"sentinel{Guid.NewGuid():N}:";
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url,
            "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix,
            .. backends.S3.Args(prefix), "--Registry:Cache:GcGrace=00:00:00", "--Registry:Admin:Token=admin",
            "--Registry:Timeouts:Store=00:00:03", "--Registry:Timeouts:StoreProbe=00:00:01"]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        // Connected to the master the sentinels name (ready), so the first pull is recorded, not served degraded.
        await Net.WaitUntilAsync(async () => (await http.GetAsync(cache.Url + "/readyz?strict")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "ready on the sentinels' master");

        // Recorded before the failover: a pulled image's tag and its blobs, replicated (WAIT) to the replica.
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        using (var bucket = new Server.Storage.S3.S3BlobStore(backends.S3.Options(prefix), Microsoft.Extensions.Logging.Abstractions.NullLogger<Server.Storage.S3.S3BlobStore>.Instance))
        {
            await Net.WaitUntilAsync(async () =>
            {
                foreach (var blob in fx.Small.AllBlobs)
                    if (await bucket.GetSizeAsync(CacheRegistry.Oci.Digest.Parse(blob), default) is null) return false;
                return true;
            }, TimeSpan.FromSeconds(30), "the image's blobs in the bucket");
        }
        Assert.Contains("1", await RedisSentinels.CliAsync(redis.Master.Port, "wait", "1", "5000"));
        var stored = await BucketCountAsync(prefix);

        // Fresh tags of the same image, so every request of the load writes a new tag record.
        var manifest = await File.ReadAllBytesAsync(TestImage.BlobPath(fx.Small.LayoutDir, fx.Small.Digest));
        const int tags = 400;
        await Task.WhenAll(Enumerable.Range(0, tags).Select(i => RegistryPush.ManifestAsync(fx.Upstream.Url, "library/small", $"f{i}", manifest, fx.Small.MediaType)));

        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var requested = new System.Collections.Concurrent.ConcurrentDictionary<int, TimeSpan>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        var load = Task.Run(async () =>
        {
            var blob = fx.Small.AllBlobs.Last();
            for (var i = 0; i < tags && !stop.IsCancellationRequested; i++)
            {
                requested[i] = clock.Elapsed;
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/library/small/manifests/f{i}");
                request.Headers.Accept.ParseAdd(fx.Small.MediaType);
                using var response = await http.SendAsync(request, stop.Token);
                if (response.StatusCode != HttpStatusCode.OK) failures.Enqueue($"f{i}: {(int)response.StatusCode}");
                var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/library/small/blobs/{blob}", stop.Token);
                if (RegistryPush.DigestOf(bytes) != blob) failures.Enqueue($"blob after f{i}: wrong bytes");
                await Task.Delay(100, stop.Token);
            }
        });
        await Net.WaitUntilAsync(() => Task.FromResult(requested.Count >= 10), TimeSpan.FromSeconds(30), "the load running");

        var killedAt = clock.Elapsed;
        await redis.Master.StopAsync(); // SIGKILL
        // The set is failing over: GC cannot see every manifest, so it deletes nothing.
        using (var gc = await GcAsync(http, cache.Url)) Assert.NotEqual(HttpStatusCode.OK, gc.StatusCode);
        Assert.Equal(stored, await BucketCountAsync(prefix));

        // New metadata lands on the promoted replica within the bound.
        await using var promoted = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Replica.Port}");
        var db = promoted.GetDatabase();
        TimeSpan? landed = null;
        await Net.WaitUntilAsync(async () =>
        {
            // Sentinel disconnects the clients of the replica it promotes: a dropped connection is "not yet".
            try
            {
                foreach (var (i, at) in requested.Where(r => r.Value > killedAt))
                    if (await db.HashExistsAsync(prefix + "tags:" + Repository, $"f{i}"))
                        landed = clock.Elapsed - killedAt;
            }
            catch (RedisConnectionException)
            {
                return false;
            }
            return landed is not null;
        }, FailoverBound, "a tag record written after the failover on the promoted replica");
        output.WriteLine($"first record on the promoted replica {landed!.Value.TotalSeconds:0.0} s after the master's SIGKILL");
        Assert.Equal(redis.Replica.Port, await redis.MasterPortAsync());

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => load);
        Assert.Empty(failures);

        // Nothing recorded before the failover is lost.
        Assert.True(await db.HashExistsAsync(prefix + "tags:" + Repository, "1"));
        foreach (var blob in fx.Small.AllBlobs) Assert.True(await db.HashExistsAsync(prefix + "blobs", blob), blob);

        // After the failover GC sees the whole set again, and everything is still referenced.
        await Net.WaitUntilAsync(async () =>
        {
            using var gc = await GcAsync(http, cache.Url);
            return gc.StatusCode == HttpStatusCode.OK;
        }, FailoverBound, "GC running on the promoted master");
        Assert.Equal(stored, await BucketCountAsync(prefix));
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository));
    }

    private async Task<int> BucketCountAsync(string prefix)
    {
        using var store = new Server.Storage.S3.S3BlobStore(backends.S3.Options(prefix), Microsoft.Extensions.Logging.Abstractions.NullLogger<Server.Storage.S3.S3BlobStore>.Instance);
        var n = 0;
        await foreach (var _ in store.ListAsync(default)) n++;
        return n;
    }

    private static async Task<HttpResponseMessage> GcAsync(HttpClient http, string cacheUrl)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, cacheUrl + "/admin/gc");
        request.Headers.Authorization = new("Bearer", "admin");
        return await http.SendAsync(request);
    }
}

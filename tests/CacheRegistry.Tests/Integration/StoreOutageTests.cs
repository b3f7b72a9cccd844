using System.Net;
using CacheRegistry.Server.Storage.S3;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Every store fails the ways stores really fail: refused, blackholed (accepts, never answers),
/// stalled (takes requests, answers stop). Pulls still answer within seconds, /readyz names the
/// store, nothing stored is lost or wrong, and the cache recovers when the store does.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class StoreOutageTests(UpstreamFixture fx, BackendsFixture backends, Xunit.Abstractions.ITestOutputHelper output)
{
    // Small deadlines so that each outage costs a second, not the production five.
    private static readonly string[] QuickStores = ["--Registry:Timeouts:Store=00:00:03", "--Registry:Timeouts:StoreProbe=00:00:01", "--Registry:Admin:Token=admin"];
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);

    private string Upstream => "--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url;

    /// <summary>A cache's blob store: s3rver's bucket reached at <paramref name="url"/> (the server itself, or a relay or front before it).</summary>
    private static string[] S3At(string url, string bucket) =>
        ["--Registry:Storage:Kind=S3", "--Registry:Storage:S3:ServiceUrl=" + url, "--Registry:Storage:S3:Bucket=" + bucket,
            "--Registry:Storage:S3:AccessKey=S3RVER", "--Registry:Storage:S3:SecretKey=S3RVER"];

    /// <summary>/readyz; <paramref name="strict"/> is 503 while a store is down, plain /readyz stays 200 (degraded still serves pulls).</summary>
    private static async Task<(HttpStatusCode Status, string Body)> ReadyAsync(HttpClient http, string cacheUrl, bool strict = false)
    {
        using var response = await http.GetAsync(cacheUrl + (strict ? "/readyz?strict" : "/readyz"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static Task WaitReadyAsync(HttpClient http, string cacheUrl) =>
        Net.WaitUntilAsync(async () => (await ReadyAsync(http, cacheUrl, strict: true)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "every store answers again");

    private static async Task<HttpResponseMessage> GcAsync(HttpClient http, string cacheUrl)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, cacheUrl + "/admin/gc");
        request.Headers.Authorization = new("Bearer", "admin");
        return await http.SendAsync(request);
    }

    // s3rver lists an object while it is still being written, so "stored" is the fill's own word for it.
    private static int FillsCommitted(CacheProcess cache, string repository) =>
        cache.Log.Split('\n').Count(l => l.Contains($"fill docker.io/{repository}@", StringComparison.Ordinal) && l.Contains(" committed:", StringComparison.Ordinal));

    private static async Task<List<string>> BucketBlobsAsync(S3Options options)
    {
        using var store = new S3BlobStore(options, NullLogger<S3BlobStore>.Instance);
        var list = new List<string>();
        await foreach (var (digest, _, _) in store.ListAsync(default)) list.Add(digest.ToString());
        return list;
    }

    [Theory]
    [InlineData(RelayMode.Refuse)]
    [InlineData(RelayMode.Blackhole)]
    [InlineData(RelayMode.Stall)]
    public async Task Redis_refusing_hanging_or_stalling_degrades_pulls_and_gc_deletes_nothing(RelayMode shape)
    {
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var relay = new FaultRelay(redis.Port);
        var prefix = $"redisout{Guid.NewGuid():N}/";
        await using var cache = new CacheProcess([Upstream, "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + relay.Address,
            .. backends.S3.Args(prefix), "--Registry:Cache:GcGrace=00:00:00", .. QuickStores]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, fx.Small.Repository) == fx.Small.AllBlobs.Count()), Bound, "stored blobs");

        relay.Mode = shape;
        // Tags straight from the upstream, blobs by digest: the pull still works, within seconds.
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1", timeout: Bound));
        var (status, body) = await ReadyAsync(http, cache.Url);
        Assert.Equal(HttpStatusCode.OK, status); // pulls work: the pod stays in its Service
        Assert.Contains("ready, degraded", body);
        Assert.Contains($"redis {relay.Address}", body);

        // GC's mark phase cannot read the manifests: it deletes nothing, although every blob is past its grace.
        var before = await BucketBlobsAsync(backends.S3.Options(prefix));
        using (var gc = await GcAsync(http, cache.Url)) Assert.Equal(HttpStatusCode.ServiceUnavailable, gc.StatusCode);
        Assert.Equal(before.Order(), (await BucketBlobsAsync(backends.S3.Options(prefix))).Order());

        relay.Mode = RelayMode.Pass;
        await WaitReadyAsync(http, cache.Url);
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1", timeout: Bound));
    }

    // README, "When things fail": the cache uses a store again within this long of its answering again,
    // even when the connections it had went silent for good (a middlebox dropped their state).
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(30);

    /// <summary>Partitions the store behind <paramref name="relays"/> until the cache marks it down, heals it, and returns how long the cache took to be ready again.</summary>
    private async Task<TimeSpan> PartitionAndHealAsync(IReadOnlyList<FaultRelay> relays, CacheProcess cache, string storeName)
    {
        using var http = Net.NewHttpClient();
        foreach (var relay in relays) relay.Mode = RelayMode.Partition;
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1", timeout: Bound));
        await Net.WaitUntilAsync(async () => (await ReadyAsync(http, cache.Url)).Body.Contains(storeName, StringComparison.Ordinal), Bound, $"{storeName} marked down");
        foreach (var relay in relays) relay.Mode = RelayMode.Pass;
        var healed = System.Diagnostics.Stopwatch.StartNew();
        await Net.WaitUntilAsync(async () => (await ReadyAsync(http, cache.Url, strict: true)).Status == HttpStatusCode.OK, RecoveryBound, $"{storeName} used again after the partition healed");
        return healed.Elapsed;
    }

    [Fact]
    public async Task Redis_whose_open_connections_went_silent_for_good_is_used_again_soon_after_the_partition_heals()
    {
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var relay = new FaultRelay(redis.Port);
        await RedisPartitionAsync(relay.Address, [relay], redis.Configuration);
    }

    [Fact]
    public async Task Redis_behind_sentinels_whose_master_connections_went_silent_for_good_is_used_again_soon_after_the_partition_heals()
    {
        await using var redis = new RedisSentinels(masterBehindRelay: true);
        await redis.StartAsync();
        await RedisPartitionAsync(redis.Configuration, [redis.MasterRelay!], redis.Master.Configuration);
    }

    [Fact]
    public async Task A_redis_cluster_whose_connections_went_silent_for_good_is_used_again_soon_after_the_partition_heals()
    {
        await using var cluster = new RedisCluster(behindRelays: true);
        await cluster.StartAsync();
        await RedisPartitionAsync(cluster.Configuration, cluster.Relays, cluster.Configuration);
    }

    /// <summary>
    /// A cache on the Redis at <paramref name="configuration"/> pulls, every connection it has to
    /// Redis (through <paramref name="relays"/>) goes silent for good, the network heals: Redis is
    /// used again within the bound, and a tag pulled after that is in Redis (read at <paramref name="direct"/>).
    /// </summary>
    private async Task RedisPartitionAsync(string configuration, IReadOnlyList<FaultRelay> relays, string direct)
    {
        var prefix = $"partition{Guid.NewGuid():N}:";
        await using var cache = new CacheProcess([Upstream, "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + configuration,
            "--Registry:Metadata:KeyPrefix=" + prefix, .. QuickStores]);
        await cache.StartAsync();
        using (var http = Net.NewHttpClient()) await WaitReadyAsync(http, cache.Url);
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));

        var took = await PartitionAndHealAsync(relays, cache, "redis ");
        output.WriteLine($"redis used again {took.TotalSeconds:0.0} s after the partition healed");
        // Writes land again: a tag pulled now is recorded.
        Assert.Equal(fx.OciIndex.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}"));
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(direct);
        Assert.True(await redis.GetDatabase().HashExistsAsync(prefix + "tags:docker.io/" + fx.OciIndex.Repository, fx.OciIndex.Tag));
    }

    [Fact]
    public async Task S3_whose_open_connections_went_silent_for_good_is_used_again_soon_after_the_partition_heals()
    {
        await using var s3 = new S3Server();
        await s3.StartAsync();
        await using var relay = new FaultRelay(s3.Port);
        await using var cache = new CacheProcess([Upstream, .. S3At(relay.Url, s3.Bucket),
            "--Registry:Storage:S3:RequestTimeout=00:00:02", .. QuickStores]);
        await cache.StartAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, fx.Small.Repository) == fx.Small.AllBlobs.Count()), Bound, "stored blobs");

        var took = await PartitionAndHealAsync([relay], cache, $"s3 {relay.Url}");
        output.WriteLine($"s3 used again {took.TotalSeconds:0.0} s after the partition healed");
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1", timeout: Bound));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository)); // from S3 again
    }

    /// <summary>
    /// Runs <paramref name="test"/> on a cache whose S3 is reached through an <see cref="EvictingS3Front"/>,
    /// once small:1 is pulled and stored, with the URL of its last layer through the cache.
    /// </summary>
    private async Task BehindFrontAsync(Func<S3Server, EvictingS3Front, CacheProcess, string, Task> test)
    {
        await using var s3 = new S3Server();
        await s3.StartAsync();
        await using var front = await EvictingS3Front.StartAsync(s3);
        await using var cache = new CacheProcess([Upstream, .. S3At(front.Url, s3.Bucket), .. QuickStores]);
        await cache.StartAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, fx.Small.Repository) == fx.Small.AllBlobs.Count()), Bound, "stored blobs");
        await test(s3, front, cache, $"{cache.Url}/v2/{fx.Small.Repository}/blobs/{SmallLayer}");
    }

    private string SmallLayer => fx.Small.Platforms["linux/amd64"].Blobs[^1];

    [Fact]
    public Task A_blob_evicted_between_the_stores_answer_and_the_read_comes_from_the_upstream_not_a_404() =>
        BehindFrontAsync(async (s3, front, cache, url) =>
        {
            using var direct = new S3BlobStore(s3.Options(), NullLogger<S3BlobStore>.Instance);
            // Another replica's size limit takes the blob right after this one's lookup found it.
            front.EvictAfterHead = path => direct.DeleteAsync(CacheRegistry.Oci.Digest.Parse("sha256:" + path[(path.LastIndexOf('/') + 1)..]), default);
            using var http = Net.NewHttpClient();
            Assert.Equal(SmallLayer, RegistryPush.DigestOf(await http.GetByteArrayAsync(url)));
            Assert.True(front.Evicted > 0); // the race happened
            await Net.WaitUntilAsync(() => Task.FromResult(cache.Log.Contains("is gone at read time", StringComparison.Ordinal)), Bound, "the warning naming it");
        });

    [Fact]
    public Task A_hit_whose_store_read_hangs_before_the_first_byte_comes_from_the_upstream_not_a_503() =>
        BehindFrontAsync(async (_, front, _, url) =>
        {
            front.HangBlobGets = true; // lookups answer, reads never do
            using var http = Net.NewHttpClient();
            var mark = await fx.Upstream.MarkAsync();
            Assert.Equal(SmallLayer, RegistryPush.DigestOf(await http.GetByteArrayAsync(url).WaitAsync(Bound)));
            Assert.Equal(1, await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository));
        });

    [Fact]
    public async Task Gc_with_one_redis_cluster_master_down_deletes_nothing()
    {
        await using var cluster = new RedisCluster();
        await cluster.StartAsync();
        var prefix = $"cluster{Guid.NewGuid():N}/";
        await using var cache = new CacheProcess([Upstream, "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + cluster.Configuration,
            .. backends.S3.Args(prefix), "--Registry:Cache:GcGrace=00:00:00", .. QuickStores]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        foreach (var image in new[] { fx.Small, fx.DockerList, fx.OciIndex })
            Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{image.Repository}:{image.Tag}"));
        var stored = fx.Small.AllBlobs.Concat(fx.DockerList.AllBlobs).Concat(fx.OciIndex.AllBlobs).Distinct().Count();
        await Net.WaitUntilAsync(() => Task.FromResult(cache.Log.Split('\n').Count(l => l.Contains(" committed:", StringComparison.Ordinal)) == stored), Bound, "stored blobs");
        using (var gc = await GcAsync(http, cache.Url)) Assert.Equal(HttpStatusCode.OK, gc.StatusCode); // complete view: nothing to collect
        Assert.Equal(stored, (await BucketBlobsAsync(backends.S3.Options(prefix))).Count);

        await cluster.Nodes[1].StopAsync();
        using (var gc = await GcAsync(http, cache.Url))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, gc.StatusCode);
            Assert.Contains("redis", await gc.Content.ReadAsStringAsync());
        }
        Assert.Equal(stored, (await BucketBlobsAsync(backends.S3.Options(prefix))).Count);
    }

    [Theory]
    [InlineData(RelayMode.Refuse)]
    [InlineData(RelayMode.Blackhole)]
    [InlineData(RelayMode.Stall)]
    public async Task S3_refusing_hanging_or_stalling_serves_blobs_from_the_upstream_verified_and_recovers(RelayMode shape)
    {
        await using var s3 = new S3Server();
        await s3.StartAsync();
        await using var relay = new FaultRelay(s3.Port);
        string[] storage = [.. S3At(relay.Url, s3.Bucket), "--Registry:Storage:S3:RequestTimeout=00:00:02"];
        await using var cache = new CacheProcess([Upstream, .. storage, .. QuickStores]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, fx.Small.Repository) == fx.Small.AllBlobs.Count()), Bound, "stored blobs");

        relay.Mode = shape;
        // Cached blobs live in S3, which does not answer: they come from the upstream, verified, unstored.
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1", timeout: Bound));
        Assert.Equal(fx.Small.AllBlobs.Count(), await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository));
        var (status, body) = await ReadyAsync(http, cache.Url);
        Assert.Equal(HttpStatusCode.OK, status); // pulls work: the pod stays in its Service
        Assert.Contains("ready, degraded", body);
        Assert.Contains($"s3 {relay.Url}", body);

        relay.Mode = RelayMode.Pass;
        await WaitReadyAsync(http, cache.Url);
        mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1", timeout: Bound));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository)); // served from S3 again
    }

    [Fact]
    public async Task S3_stalling_in_the_middle_of_a_cached_blob_cuts_that_read_and_the_retry_comes_from_the_upstream()
    {
        await using var s3 = new S3Server();
        await s3.StartAsync();
        await using var relay = new FaultRelay(s3.Port);
        await using var cache = new CacheProcess([Upstream, .. S3At(relay.Url, s3.Bucket), .. QuickStores]);
        await cache.StartAsync();
        var image = fx.DockerBig;
        var layer = image.Platforms["linux/amd64"].Blobs.OrderByDescending(b => new FileInfo(TestImage.BlobPath(image.LayoutDir, b)).Length).First();
        var bytes = await File.ReadAllBytesAsync(TestImage.BlobPath(image.LayoutDir, layer));
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{image.Repository}:{image.Tag}"));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, image.Repository) == image.AllBlobs.Count()), Bound, "the big layer stored");

        using var http = Net.NewHttpClient();
        var url = $"{cache.Url}/v2/{image.Repository}/blobs/{layer}";
        relay.StallAnswersAfter(2 * 1024 * 1024);
        using (var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead))
        {
            // S3 stops in the middle of the body: the cache cuts the connection within its store deadline.
            var body = await response.Content.ReadAsStreamAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => body.CopyToAsync(Stream.Null).WaitAsync(Bound));
        }
        relay.Mode = RelayMode.Stall; // and keeps not answering
        Assert.Equal(bytes, await http.GetByteArrayAsync(url).WaitAsync(Bound));
    }

    [Fact]
    public async Task A_full_disk_is_a_store_error_readers_go_on_from_the_upstream_and_eviction_makes_room()
    {
        var small = TestImage.Build("library/diskfill-a", "1", ImageFormat.Oci, ["linux/amd64"], [8 * 1024 * 1024], Net.TempDir("disk"));
        var large = TestImage.Build("library/diskfill-b", "1", ImageFormat.Oci, ["linux/amd64"], [9 * 1024 * 1024], Net.TempDir("disk"));
        await Task.WhenAll(small.PushAsync(fx.Upstream.Address), large.PushAsync(fx.Upstream.Address));
        await using var disk = await Tmpfs.MountAsync("16m");
        await using var cache = new CacheProcess([Upstream, .. QuickStores, "--Registry:Cache:MaxSize=1GB", "--Registry:Cache:MinFreeSpace=10MiB",
            "--Registry:Cache:MaintenanceInterval=01:00:00"], dataDir: disk.Path);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        Assert.Equal(small.Digest, await Skopeo.PullAsync(cache.Address, "diskfill-a:1"));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, small.Repository) == small.AllBlobs.Count()), Bound, "the first image stored");

        // The second image's layer does not fit: its spool fills the disk half-way.
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(large.Digest, await Skopeo.PullAsync(cache.Address, "diskfill-b:1", timeout: Bound));
        var layer = large.Platforms["linux/amd64"].Blobs[^1];
        // One download for the fill, one for its reader going on from the upstream: no refetch loop.
        Assert.Equal(2, (await fx.Upstream.RequestsSinceAsync(mark, "GET", $"/blobs/{layer}")).Count);
        Assert.Contains("local disk (", cache.Log);
        Assert.Contains("No space left on device", cache.Log);
        Assert.DoesNotContain("do not hash", cache.Log);

        // Eviction made room at once (the first image was least recently used); the disk is back.
        await WaitReadyAsync(http, cache.Url);
        Assert.Contains("size limit: evicted", cache.Log);
        Assert.Equal(large.Digest, await Skopeo.PullAsync(cache.Address, "diskfill-b:1", timeout: Bound));
        await Net.WaitUntilAsync(() => Task.FromResult(FillsCommitted(cache, large.Repository) == large.AllBlobs.Count()), Bound, "the second image stored");
        mark = await fx.Upstream.MarkAsync();
        Assert.Equal(large.Digest, await Skopeo.PullAsync(cache.Address, "diskfill-b:1"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, large.Repository));
    }

    [Fact]
    public async Task A_locked_sqlite_database_is_a_503_naming_it_and_pulls_go_on_from_the_upstream()
    {
        await using var cache = new CacheProcess([Upstream, .. QuickStores]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));

        // Another process holds the write lock (a backup gone wrong, a stuck sqlite3 shell).
        await using (var holder = new SqliteConnection($"Data Source={Path.Combine(cache.DataDir, "metadata.db")};Pooling=False"))
        {
            await holder.OpenAsync();
            using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE";
                await begin.ExecuteNonQueryAsync();
            }
            Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1", timeout: Bound));
            var (status, body) = await ReadyAsync(http, cache.Url, strict: true);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains("metadata (sqlite", body);
            Assert.Contains("locked", body);
        }
        await WaitReadyAsync(http, cache.Url);
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1", timeout: Bound));
    }
}

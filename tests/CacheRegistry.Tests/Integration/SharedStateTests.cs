using System.Net;
using CacheRegistry.Tests.Infrastructure;
using StackExchange.Redis;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// What replicas on one real Redis learn once for all of them: a bearer token (one token request
/// per scope per cluster), an upstream's "not found", and the bytes spent of an upstream's quota.
/// Each replica keeps its blobs on its own disk here, so every blob it serves is its own download:
/// only the shared state can keep them from repeating each other's work.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class SharedStateTests(UpstreamFixture fx, BackendsFixture backends)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private string[] OnRedis(string prefix, string upstreamUrl) =>
    [
        "--Registry:Upstreams:docker.io:Endpoints:0=" + upstreamUrl,
        "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + backends.Redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix,
    ];

    [Fact]
    public async Task Three_replicas_pulling_one_scope_ask_the_token_service_once()
    {
        await using var issuer = await TokenIssuer.StartAsync();
        await using var upstream = new UpstreamRegistry { ExtraConfig = issuer.RegistryConfig };
        await upstream.StartAsync();
        var image = TestImage.Build("public/shared", "1", ImageFormat.Oci, ["linux/amd64"], [16 * 1024], Net.TempDir("shared"));
        await image.PushAsync(upstream.Address, "pusher:pusher-secret");
        var prefix = $"tokens{Guid.NewGuid():N}:";
        await using var a = new CacheProcess(OnRedis(prefix, upstream.Url));
        await using var b = new CacheProcess(OnRedis(prefix, upstream.Url));
        await using var c = new CacheProcess(OnRedis(prefix, upstream.Url));
        await Task.WhenAll(a.StartAsync(), b.StartAsync(), c.StartAsync());

        var before = issuer.Issued;
        foreach (var replica in new[] { a, b, c }) Assert.Equal(image.Digest, await Skopeo.PullAsync(replica.Address, "public/shared:1"));
        Assert.Equal(1, issuer.Issued - before);
    }

    [Fact]
    public async Task A_not_found_seen_by_one_replica_is_answered_by_another_without_the_upstream()
    {
        var prefix = $"missing{Guid.NewGuid():N}:";
        await using var a = new CacheProcess(OnRedis(prefix, fx.Upstream.Url));
        await using var b = new CacheProcess(OnRedis(prefix, fx.Upstream.Url));
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        using var http = Net.NewHttpClient();
        var tag = $"gone-{Guid.NewGuid():N}";
        var mark = await fx.Upstream.MarkAsync();

        using (var first = await http.GetAsync($"{a.Url}/v2/library/small/manifests/{tag}")) Assert.Equal(HttpStatusCode.NotFound, first.StatusCode);
        var asked = (await fx.Upstream.AllRequestsSinceAsync(mark)).Count(l => l.Contains(tag, StringComparison.Ordinal));
        Assert.True(asked > 0);
        // Fence: A has shared what it learned.
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(backends.Redis.Configuration))
            await Net.WaitUntilAsync(() => redis.GetDatabase().KeyExistsAsync($"{prefix}shared:missing:docker.io/library/small:{tag}"), Bound, "the shared 404");
        using (var second = await http.GetAsync($"{b.Url}/v2/library/small/manifests/{tag}"))
        {
            await ApiTests.AssertErrorAsync(second, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        }
        Assert.Equal(asked, (await fx.Upstream.AllRequestsSinceAsync(mark)).Count(l => l.Contains(tag, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task An_upstream_quota_is_spent_once_by_the_cluster_not_once_per_replica()
    {
        var prefix = $"quota{Guid.NewGuid():N}:";
        var (spentOn, refused) = (Largest(fx.ForContainerd), Largest(fx.ForDocker)); // over 256 KiB each
        // Room for the first blob and 16 KiB more: the second does not fit once the cluster counted the first.
        string[] quota = [$"--Registry:Upstreams:docker.io:Quota={SizeOf(fx.ForContainerd, spentOn) / 1024 + 16}KiB"];
        await using var a = new CacheProcess([.. OnRedis(prefix, fx.Upstream.Url), .. quota]);
        await using var b = new CacheProcess([.. OnRedis(prefix, fx.Upstream.Url), .. quota]);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        using var http = Net.NewHttpClient();

        // A's download fits; it spends most of the cluster's quota.
        var bytes = await http.GetByteArrayAsync($"{a.Url}/v2/{fx.ForContainerd.Repository}/blobs/{spentOn}");
        Assert.Equal(spentOn, RegistryPush.DigestOf(bytes));
        await Net.WaitUntilAsync(async () => (await Exposition.ScrapeAsync(b.Url)).Sum("cacheregistry_upstream_quota_remaining_bytes", ("registry", "docker.io")) < 32 * 1024,
            Bound, "replica B seeing A's bytes counted");

        var mark = await fx.Upstream.MarkAsync();
        using (var answer = await http.GetAsync($"{b.Url}/v2/{fx.ForDocker.Repository}/blobs/{refused}"))
        {
            await ApiTests.AssertErrorAsync(answer, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
        }
        // B asked its size (HEAD), never its body.
        Assert.Empty(await fx.Upstream.RequestsSinceAsync(mark, "GET", refused));
    }

    private static long SizeOf(TestImage image, string blob) => new FileInfo(TestImage.BlobPath(image.LayoutDir, blob)).Length;

    [Fact]
    public async Task Replicas_sharing_a_bucket_evict_one_at_a_time_so_the_limit_is_met_once()
    {
        var prefix = $"evict{Guid.NewGuid():N}:";
        TestImage[] images = [fx.ForContainerd, fx.ForDocker];
        var sizes = images.SelectMany(i => i.AllBlobs.Select(b => (Blob: b, Size: SizeOf(i, b)))).DistinctBy(b => b.Blob).ToList();
        var total = sizes.Sum(b => b.Size);
        var max = (long)(total / 1.25); // both images are over the high watermark (90 %)
        var target = (long)(max * 0.8);  // eviction stops at the low one
        string[] args = [.. OnRedis(prefix, fx.Upstream.Url), .. backends.S3.Args(prefix), $"--Registry:Cache:MaxSize={max}", "--Registry:Cache:MaintenanceInterval=00:00:01"];

        // Another replica holds the eviction lock while both pull.
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(backends.Redis.Configuration);
        var lockKey = prefix + "maintenance:evict";
        Assert.True(await redis.GetDatabase().StringSetAsync(lockKey, "another replica", TimeSpan.FromMinutes(2)));
        await using var a = new CacheProcess(args);
        await using var b = new CacheProcess(args);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        Assert.Equal(images[0].Digest, await Skopeo.PullAsync(a.Address, $"{images[0].Repository}:{images[0].Tag}"));
        Assert.Equal(images[1].Digest, await Skopeo.PullAsync(b.Address, $"{images[1].Repository}:{images[1].Tag}"));
        await Net.WaitUntilAsync(async () => (await Exposition.ScrapeAsync(a.Url)).Sum("cacheregistry_store_bytes") >= total, Bound, "both images stored");

        // Over the limit, both replicas' evictors see the lock taken and free nothing.
        const string skipped = "another replica is evicting";
        await Net.WaitUntilAsync(() => Task.FromResult(a.Log.Contains(skipped, StringComparison.Ordinal) && b.Log.Contains(skipped, StringComparison.Ordinal)), Bound, "both evictors waiting");
        Assert.True((await Exposition.ScrapeAsync(a.Url)).Sum("cacheregistry_store_bytes") >= total);

        // Released: one replica evicts down to the low watermark, the other finds nothing left to do.
        await redis.GetDatabase().KeyDeleteAsync(lockKey);
        await Net.WaitUntilAsync(() => Task.FromResult(a.Log.Contains("size limit: evicted", StringComparison.Ordinal) || b.Log.Contains("size limit: evicted", StringComparison.Ordinal)),
            Bound, "an eviction");
        var after = (await Exposition.ScrapeAsync(a.Url)).Sum("cacheregistry_store_bytes");
        Assert.InRange(after, target - sizes.Max(s => s.Size), target);
        Assert.Single(new[] { a.Log, b.Log }, l => l.Contains("size limit: evicted", StringComparison.Ordinal));
    }

    private static string Largest(TestImage image) =>
        image.Platforms["linux/amd64"].Blobs.OrderByDescending(b => new FileInfo(TestImage.BlobPath(image.LayoutDir, b)).Length).First();
}

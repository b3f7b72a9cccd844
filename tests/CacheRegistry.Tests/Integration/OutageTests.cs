using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The upstream stops, blackholes or lies: stale tags and cached digests are still served, misses fail clearly.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class OutageTests
{
    private static async Task<(UpstreamRegistry Upstream, TestImage Image)> SeededUpstreamAsync()
    {
        var upstream = new UpstreamRegistry();
        await upstream.StartAsync();
        var image = TestImage.Build("library/outage", "1", ImageFormat.Oci, ["linux/amd64", "linux/arm64"], [32 * 1024], Net.TempDir("outage"));
        await image.PushAsync(upstream.Address);
        return (upstream, image);
    }

    [Fact]
    public async Task Stale_tag_is_served_with_the_upstream_stopped_and_a_cold_miss_names_the_upstream()
    {
        var (upstream, image) = await SeededUpstreamAsync();
        await using var _ = upstream;
        // TagTtl 0: every tag request revalidates, so this shows the stale path.
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:TagTtl=00:00:00", "--Registry:RevalidateDeadline=00:00:01");
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1"));

        await upstream.StopAsync();
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1"));

        using var http = Net.NewHttpClient();
        using var miss = await http.GetAsync($"{cache.Url}/v2/library/other/manifests/1");
        await ApiTests.AssertErrorAsync(miss, HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
        var body = await miss.Content.ReadAsStringAsync();
        Assert.Contains("docker.io", body);
        Assert.Contains(upstream.Address, body);
    }

    [Fact]
    public async Task Tag_lists_are_fetched_once_per_freshness_window_and_served_stale_when_the_upstream_fails()
    {
        var (upstream, _) = await SeededUpstreamAsync();
        await using var _ = upstream;
        using var http = Net.NewHttpClient();

        // Twenty clients at once, then five more: one upstream listing in the freshness window.
        await using (var cache = await CacheServer.StartAsync(upstream.Url))
        {
            var mark = await upstream.MarkAsync();
            var lists = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => http.GetStringAsync($"{cache.Url}/v2/outage/tags/list")));
            for (var i = 0; i < 5; i++) lists = [.. lists, await http.GetStringAsync($"{cache.Url}/v2/outage/tags/list")];
            Assert.All(lists, l => Assert.Equal("""{"name":"outage","tags":["1"]}""", l));
            Assert.Single(await upstream.RequestsSinceAsync(mark, "GET", "/v2/library/outage/tags/list"));
        }

        // A list past its window, with the upstream gone: the last list is served (no tag of it
        // was ever pulled through this cache, so the cache's own tags would be none).
        await using var stale = await CacheServer.StartAsync(upstream.Url, "--Registry:TagTtl=00:00:00");
        Assert.Contains("\"1\"", await http.GetStringAsync($"{stale.Url}/v2/outage/tags/list"));
        await upstream.StopAsync();
        using var answer = await http.GetAsync($"{stale.Url}/v2/outage/tags/list");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("""{"name":"outage","tags":["1"]}""", await answer.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Restart_with_the_upstream_down_serves_everything_cached()
    {
        var (upstream, image) = await SeededUpstreamAsync();
        await using var _ = upstream;
        await using var cache = await CacheServer.StartAsync(upstream.Url);
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1"));

        await cache.StopAsync();
        await upstream.StopAsync();
        await cache.RestartAsync();
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1"));
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"outage@{image.Digest}"));
    }

    [Fact]
    public async Task Blackholed_upstream_serves_stale_within_the_deadline_and_times_out_a_miss()
    {
        var (upstream, image) = await SeededUpstreamAsync();
        await using var _ = upstream;
        using var blackhole = new Blackhole();
        var dataDir = Net.TempDir("cache");
        var warm = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:docker.io:Endpoints:0=" + upstream.Url]);
        Assert.Equal(image.Digest, await Skopeo.PullAsync(warm.Address, "outage:1"));
        await warm.StopAsync(); // stop, not dispose: the next instance reuses its data dir

        await using var cache = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:docker.io:Endpoints:0=" + blackhole.Url,
            "--Registry:TagTtl=00:00:00", "--Registry:RevalidateDeadline=00:00:01", "--Registry:Timeouts:FirstByte=00:00:02"]);
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1"));

        using var http = Net.NewHttpClient();
        using var miss = await http.GetAsync($"{cache.Url}/v2/library/other/manifests/1");
        await ApiTests.AssertErrorAsync(miss, HttpStatusCode.GatewayTimeout, "UNAVAILABLE");
        Assert.Contains("did not answer in time", await miss.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(RelayMode.Refuse, HttpStatusCode.ServiceUnavailable)]
    [InlineData(RelayMode.Blackhole, HttpStatusCode.GatewayTimeout)]
    [InlineData(RelayMode.Stall, HttpStatusCode.GatewayTimeout)]
    [InlineData(RelayMode.Reset, HttpStatusCode.ServiceUnavailable)]
    public async Task An_upstream_that_refuses_hangs_stalls_or_resets_leaves_cached_images_pullable_and_misses_clear(RelayMode shape, HttpStatusCode missStatus)
    {
        var (upstream, image) = await SeededUpstreamAsync();
        await using var _ = upstream;
        await using var relay = new FaultRelay(upstream.Port);
        await using var cache = await CacheServer.StartAsync(relay.Url, "--Registry:TagTtl=00:00:00", "--Registry:RevalidateDeadline=00:00:01",
            "--Registry:Timeouts:FirstByte=00:00:02", "--Registry:Timeouts:Connect=00:00:02");
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1"));

        relay.Mode = shape;
        // Every tag request revalidates (TagTtl 0) and gets the stale digest within the deadline.
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "outage:1", timeout: TimeSpan.FromSeconds(45)));
        using var http = Net.NewHttpClient();
        using var miss = await http.GetAsync($"{cache.Url}/v2/library/other/manifests/1").WaitAsync(TimeSpan.FromSeconds(30));
        await ApiTests.AssertErrorAsync(miss, missStatus, "UNAVAILABLE");
        Assert.Contains(relay.Address, await miss.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task After_an_upstream_partition_the_connections_it_left_silent_are_not_used_again()
    {
        var (upstream, image) = await SeededUpstreamAsync();
        await using var _ = upstream;
        await using var relay = new FaultRelay(upstream.Port);
        await using var cache = await CacheServer.StartAsync(relay.Url, "--Registry:Timeouts:FirstByte=00:00:02", "--Registry:Timeouts:Connect=00:00:02");
        using var http = Net.NewHttpClient();
        // Several connections to the upstream at once, then idle in the cache's pool.
        await Task.WhenAll(image.AllBlobs.Select(b => http.GetByteArrayAsync($"{cache.Url}/v2/library/outage/blobs/{b}")));

        relay.Mode = RelayMode.Partition;
        using (var miss = await http.GetAsync($"{cache.Url}/v2/library/other/manifests/1"))
            await ApiTests.AssertErrorAsync(miss, HttpStatusCode.GatewayTimeout, "UNAVAILABLE");
        relay.Mode = RelayMode.Pass; // connections open during the partition stay silent, as after a middlebox lost them

        // Every request after it is answered by the upstream (here: not found), none waits on a dead connection.
        for (var i = 0; i < 4; i++)
        {
            using var answer = await http.GetAsync($"{cache.Url}/v2/library/absent{i}/manifests/1");
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        }
    }

    [Fact]
    public async Task Pooled_connections_a_partition_silenced_while_idle_cost_no_request()
    {
        var (upstream, image) = await SeededUpstreamAsync();
        await using var _ = upstream;
        await using var relay = new FaultRelay(upstream.Port);
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + relay.Url, "--Registry:Timeouts:FirstByte=00:00:02", "--Registry:Timeouts:Connect=00:00:02"]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        // Connections to the upstream, then idle in the cache's pool.
        await Task.WhenAll(image.AllBlobs.Select(b => http.GetByteArrayAsync($"{cache.Url}/v2/library/outage/blobs/{b}")));

        // A partition while nobody asks: the idle connections stay silent after it, as after a middlebox lost them.
        relay.Mode = RelayMode.Partition;
        relay.Mode = RelayMode.Pass;

        // The next request goes out on one of them, and is still answered by the upstream (here: not found); so is every one after it.
        for (var i = 0; i < 3; i++)
        {
            using var answer = await http.GetAsync($"{cache.Url}/v2/library/absent{i}/manifests/1");
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        }
        Assert.Contains("asking again on a fresh connection", cache.Log);
    }

    [Theory]
    [InlineData(429, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS")]
    [InlineData(503, HttpStatusCode.BadGateway, "UNAVAILABLE")]
    public async Task An_upstream_answering_429_or_5xx_leaves_cached_tags_pullable_and_misses_clear(int upstreamStatus, HttpStatusCode missStatus, string code)
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:TagTtl=00:00:00");
        using var http = Net.NewHttpClient();
        using (var warm = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) warm.EnsureSuccessStatusCode();

        upstream.ManifestStatus = upstreamStatus;
        using (var stale = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest"))
        {
            Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
            Assert.Equal(upstream.Manifest, await stale.Content.ReadAsByteArrayAsync());
        }
        using var miss = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/other");
        await ApiTests.AssertErrorAsync(miss, missStatus, code);
        Assert.Contains(new Uri(upstream.Url).Authority, await miss.Content.ReadAsStringAsync());
        if (upstreamStatus == 429) Assert.Equal(TimeSpan.FromSeconds(7), miss.Headers.RetryAfter?.Delta);
    }

    [Theory]
    [InlineData(BlobFault.CorruptBytes)]
    [InlineData(BlobFault.Truncate)]
    public async Task A_blob_that_does_not_match_its_digest_is_never_stored_or_served_whole(BlobFault fault)
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = fault;
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Fill:ResumeBackoff=00:00:00.020");
        using var http = Net.NewHttpClient();
        using (await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) { }

        var path = $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}";
        // Headers go out before the last byte is checked; the cut connection is the client's signal.
        await Assert.ThrowsAnyAsync<HttpRequestException>(async () => await http.GetByteArrayAsync(path));
        Assert.False(File.Exists(BlobPath(cache, upstream.LayerDigest)));

        upstream.Fault = BlobFault.None;
        Assert.Equal(upstream.Layer, await http.GetByteArrayAsync(path));
        // The client has every verified byte before the store commit ends.
        await Net.WaitUntilAsync(() => Task.FromResult(File.Exists(BlobPath(cache, upstream.LayerDigest))), TimeSpan.FromSeconds(20), "committed blob");
    }

    [Fact]
    public async Task A_fill_goes_on_when_its_client_hangs_up_and_a_joining_client_shares_it()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.SlowDrip;
        await using var cache = await CacheServer.StartAsync(upstream.Url);
        using var http = Net.NewHttpClient();
        using (await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) { }
        var path = $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}";

        using (var first = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead))
        {
            var stream = await first.Content.ReadAsStreamAsync();
            var buffer = new byte[1024];
            await stream.ReadExactlyAsync(buffer);
        } // hang up after the first KiB

        var joined = await http.GetByteArrayAsync(path);
        Assert.Equal(upstream.Layer, joined);
        await Net.WaitUntilAsync(() => Task.FromResult(File.Exists(BlobPath(cache, upstream.LayerDigest))), TimeSpan.FromSeconds(20), "committed blob");
        Assert.Equal(1, upstream.BlobGets);
    }

    private static string BlobPath(CacheServer cache, string digest) =>
        Path.Combine(cache.DataDir, "blobs", "sha256", digest[7..9], digest[7..]);
}

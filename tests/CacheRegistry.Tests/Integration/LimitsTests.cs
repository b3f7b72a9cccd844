using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// What one client or one CI job may ask of a shared mirror: requests per minute per client
/// address (X-Forwarded-For only from trusted proxies), downloads at once per upstream, and an
/// upstream byte quota after which only cached content is served.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class LimitsTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Each_client_address_gets_its_own_budget_and_forwarded_addresses_count_only_from_trusted_proxies()
    {
        await using var trusting = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Limits:RequestsPerMinute=3", "--Registry:Limits:TrustedProxies:0=127.0.0.1");
        using var http = Net.NewHttpClient();
        var statuses = await SendAsync(http, trusting.Url + "/v2/", 6, "10.0.0.1");
        // Three at once, then one every 20 s: however slow this machine, never all six.
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.OK), 3, 4);
        using (var refused = await GetAsync(http, trusting.Url + "/v2/", "10.0.0.1"))
        {
            await ApiTests.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Contains("10.0.0.1 made more than 3 requests a minute", await refused.Content.ReadAsStringAsync());
        }
        Assert.All(await SendAsync(http, trusting.Url + "/v2/", 2, "10.0.0.2"), s => Assert.Equal(HttpStatusCode.OK, s)); // another client
        Assert.All(await SendAsync(http, trusting.Url + "/healthz", 10, "10.0.0.1"), s => Assert.Equal(HttpStatusCode.OK, s)); // probes are never limited
        var metrics = await Exposition.ScrapeAsync(trusting.Url);
        Assert.True(metrics.Sum("cacheregistry_requests_total", ("result", "limited")) >= 3);

        // Without trusted proxies the header is the client's word only: everyone here is 127.0.0.1.
        await using var plain = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Limits:RequestsPerMinute=3");
        await SendAsync(http, plain.Url + "/v2/", 6, "10.0.0.3");
        using var loopback = await GetAsync(http, plain.Url + "/v2/", "10.0.0.4");
        Assert.Equal(HttpStatusCode.TooManyRequests, loopback.StatusCode);
        Assert.Contains("127.0.0.1 made more than", await loopback.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Downloads_beyond_the_limit_queue_until_a_slot_frees()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Upstreams:docker.io:MaxConcurrentFills=1");
        using var http = Net.NewHttpClient();
        var first = await HoldTheOnlySlotAsync(upstream, cache, http);
        var second = http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.ExtraDigest}");
        await WaitUntilQueuedAsync(cache);
        Assert.Equal(0, upstream.ExtraGets); // queued before its first request upstream

        upstream.Gate.SetResult();
        Assert.Equal(upstream.Layer, await first);
        Assert.Equal(upstream.Extra, await second);
        Assert.Equal(1, upstream.ExtraGets);
    }

    [Fact]
    public async Task A_download_that_waits_longer_than_the_queue_wait_gets_503_with_retry_after_and_is_counted_once()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Upstreams:docker.io:MaxConcurrentFills=1",
            "--Registry:Upstreams:docker.io:FillQueueWait=00:00:02");
        using var http = Net.NewHttpClient();
        var first = await HoldTheOnlySlotAsync(upstream, cache, http);
        var second = http.GetAsync($"{cache.Url}/v2/faulty/blobs/{upstream.ExtraDigest}");
        await WaitUntilQueuedAsync(cache);
        // Queued is not running: the one download with a slot is the only one in flight.
        Assert.Equal(1, (await Exposition.ScrapeAsync(cache.Url)).Sum("cacheregistry_fills_in_flight"));

        using (var refused = await second)
        {
            await ApiTests.AssertErrorAsync(refused, HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
            Assert.Contains("MaxConcurrentFills", await refused.Content.ReadAsStringAsync());
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }
        Assert.Equal(0, upstream.ExtraGets);
        upstream.Gate.SetResult();
        Assert.Equal(upstream.Layer, await first);
        Assert.Equal(upstream.Extra, await http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.ExtraDigest}")); // a slot is free now
    }

    /// <summary>The layer's download, started and held halfway (gated), so it keeps the only download slot.</summary>
    private static async Task<Task<byte[]>> HoldTheOnlySlotAsync(FaultyUpstream upstream, CacheServer cache, HttpClient http)
    {
        using (var manifest = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) manifest.EnsureSuccessStatusCode();
        upstream.Fault = BlobFault.Gated;
        var first = http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}");
        await Net.WaitUntilAsync(() => Task.FromResult(upstream.BlobGets == 1), TimeSpan.FromSeconds(10), "the first download under way");
        return first;
    }

    private static Task WaitUntilQueuedAsync(CacheServer cache) =>
        Net.WaitUntilAsync(async () => (await Exposition.ScrapeAsync(cache.Url)).Sum("cacheregistry_fills_queued") == 1, TimeSpan.FromSeconds(10), "the second download queued");

    [Fact]
    public async Task A_quota_admits_only_downloads_that_fit_whatever_range_is_asked_and_serves_what_is_cached()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Upstreams:docker.io:Quota=100KiB");
        using var http = Net.NewHttpClient();
        using (var manifest = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) manifest.EnsureSuccessStatusCode();
        var left = (await Exposition.ScrapeAsync(cache.Url)).Sum("cacheregistry_upstream_quota_remaining_bytes", ("registry", "docker.io"));

        // One byte of an uncached 512 KiB blob: the fill would take all of it, which does not fit.
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}") { Headers = { Range = new(0, 0) } })
        using (var refused = await http.SendAsync(request))
        {
            await ApiTests.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
            Assert.Contains("needs 512.0 KiB", await refused.Content.ReadAsStringAsync());
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }
        Assert.Equal(0, upstream.BlobGets); // its size came from a HEAD; no body was asked for
        Assert.Equal(left, (await Exposition.ScrapeAsync(cache.Url)).Sum("cacheregistry_upstream_quota_remaining_bytes", ("registry", "docker.io")));

        // A 64 KiB blob fits: served, then cached; the quota shows what it cost, no more, no less.
        Assert.Equal(upstream.Extra, await http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.ExtraDigest}"));
        Assert.Equal(upstream.Extra, await http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.ExtraDigest}"));
        Assert.Equal(1, upstream.ExtraGets);
        Assert.Equal(left - upstream.Extra.Length, (await Exposition.ScrapeAsync(cache.Url)).Sum("cacheregistry_upstream_quota_remaining_bytes", ("registry", "docker.io")));
        using (var cached = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) Assert.Equal(HttpStatusCode.OK, cached.StatusCode);
    }

    private static async Task<List<HttpStatusCode>> SendAsync(HttpClient http, string url, int count, string forwardedFor)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            using var answer = await GetAsync(http, url, forwardedFor);
            statuses.Add(answer.StatusCode);
        }
        return statuses;
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string url, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        return await http.SendAsync(request);
    }
}

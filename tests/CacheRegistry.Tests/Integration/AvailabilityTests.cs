using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// The image-availability check: the tags clients pulled are asked for upstream with HEAD, a
/// bounded number per registry per round, and the ones that could no longer be pulled there
/// (gone, denied, unreachable — refused or hanging) are reported by image and counted in /metrics.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class AvailabilityTests(UpstreamFixture fx)
{
    private const string Token = "t0ken-of-the-admin";

    [Fact]
    public async Task Pulled_tags_are_checked_upstream_and_those_only_the_cache_holds_are_reported()
    {
        await using var faulty = await FaultyUpstream.StartAsync();
        await using var relay = new FaultRelay(new Uri(faulty.Url).Port);
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url,
            "--Registry:Upstreams:quay.io:Endpoints:0=" + relay.Url, "--Registry:Availability:Enabled=true", "--Registry:Availability:ChecksPerInterval=1",
            "--Registry:Admin:Token=" + Token, "--Registry:Timeouts:FirstByte=00:00:02", "--Registry:TagTtl=00:00:00");
        using var http = Net.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        foreach (var pull in new[] { "/v2/small/manifests/1", "/v2/library/faulty/manifests/latest?ns=quay.io", "/v2/library/faulty/manifests/v2?ns=quay.io",
                     $"/v2/library/faulty/manifests/{faulty.ManifestDigest}?ns=quay.io" }) // by digest: not a tag, not watched
            using (var pulled = await http.GetAsync(cache.Url + pull)) pulled.EnsureSuccessStatusCode();

        // One check per registry per round, the least recently checked first.
        var first = await CheckAsync(http, cache);
        Assert.Equal(2, first.GetProperty("checked").GetInt32());
        Assert.Equal(3, Report(first).GetProperty("total").GetInt32());
        Assert.Equal(("available", "available", "unchecked"), (Outcome(first, "docker.io/library/small:1"), Outcome(first, "quay.io/library/faulty:latest"), Outcome(first, "quay.io/library/faulty:v2")));

        faulty.ManifestStatus = 404;
        Assert.Equal("tag_gone", Outcome(await CheckAsync(http, cache), "quay.io/library/faulty:v2"));
        faulty.ManifestStatus = 403;
        Assert.Equal("denied", Outcome(await CheckAsync(http, cache), "quay.io/library/faulty:latest"));
        relay.Mode = RelayMode.Blackhole; // accepts, never answers: the HEAD ends at the first-byte timeout
        var hung = await CheckAsync(http, cache);
        Assert.Equal("unreachable", Outcome(hung, "quay.io/library/faulty:v2"));
        Assert.Contains("did not answer in time", Detail(hung, "quay.io/library/faulty:v2"));
        relay.Mode = RelayMode.Refuse;
        Assert.Equal("unreachable", Outcome(await CheckAsync(http, cache), "quay.io/library/faulty:latest"));

        // The report puts what only the cache holds first; the cached images still serve.
        using var reportAnswer = await http.GetAsync($"{cache.Url}/admin/availability");
        var report = JsonDocument.Parse(await reportAnswer.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(2, report.GetProperty("onlyInCache").GetInt32());
        var images = report.GetProperty("images").EnumerateArray().ToList();
        Assert.All(images.Take(2), i => Assert.StartsWith("quay.io/library/faulty:", i.GetProperty("image").GetString(), StringComparison.Ordinal));
        Assert.Contains(new Uri(relay.Url).Authority, images[0].GetProperty("detail").GetString());
        using (var stillServed = await http.GetAsync($"{cache.Url}/v2/library/faulty/manifests/{faulty.ManifestDigest}?ns=quay.io"))
            Assert.Equal(HttpStatusCode.OK, stillServed.StatusCode);

        var metrics = await Exposition.ScrapeAsync(cache.Url);
        Assert.Equal(2, metrics.Sum("cacheregistry_image_availability", ("registry", "quay.io"), ("outcome", "unreachable")));
        Assert.Equal(1, metrics.Sum("cacheregistry_image_availability", ("registry", "docker.io"), ("outcome", "available")));
        Assert.Equal(1, metrics.Sum("cacheregistry_availability_checks_total", ("registry", "quay.io"), ("outcome", "tag_gone")));
        Assert.Equal(1, metrics.Sum("cacheregistry_availability_checks_total", ("registry", "quay.io"), ("outcome", "denied")));
        Assert.Equal(5, metrics.Sum("cacheregistry_availability_checks_total", ("registry", "docker.io")));
    }

    [Fact]
    public async Task Off_by_default_the_admin_api_says_how_to_turn_it_on()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Admin:Token=" + Token);
        using var http = Net.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var answer = await http.GetAsync($"{cache.Url}/admin/availability");
        await ApiTests.AssertErrorAsync(answer, HttpStatusCode.Conflict, "UNSUPPORTED");
        Assert.Contains("Registry:Availability:Enabled=true", await answer.Content.ReadAsStringAsync());
        Assert.False((await Exposition.ScrapeAsync(cache.Url)).Has("cacheregistry_image_availability"));
    }

    private static async Task<JsonElement> CheckAsync(HttpClient http, CacheServer cache)
    {
        using var answer = await http.PostAsync($"{cache.Url}/admin/availability/check", null);
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement;
    }

    private static JsonElement Report(JsonElement round) => round.GetProperty("report");

    private static string? Outcome(JsonElement round, string image) => Image(round, image).GetProperty("outcome").GetString();

    private static string? Detail(JsonElement round, string image) => Image(round, image).GetProperty("detail").GetString();

    private static JsonElement Image(JsonElement round, string image) =>
        Report(round).GetProperty("images").EnumerateArray().Single(i => i.GetProperty("image").GetString() == image);
}

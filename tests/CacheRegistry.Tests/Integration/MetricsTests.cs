using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>/metrics: the numbers move as pulls happen, promtool accepts the output, a real Prometheus scrapes it.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class MetricsTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Counters_follow_a_cold_then_a_warm_pull_and_promtool_accepts_the_output()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Cache:MaxSize=1GiB");
        var image = fx.DockerBig;
        const long layerBytes = 20L * 1024 * 1024; // its big layer holds 24 MiB of random bytes
        var before = await Exposition.ScrapeAsync(cache.Url);

        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "big:1"));
        var cold = await Exposition.ScrapeAsync(cache.Url);
        Assert.True(Delta(before, cold, "cacheregistry_requests_total", ("kind", "manifest"), ("result", "miss")) >= 1, cold.Text);
        Assert.Equal(image.Platforms.Values.Single().Blobs.Count, Delta(before, cold, "cacheregistry_requests_total", ("kind", "blob"), ("result", "miss")));
        Assert.True(Delta(before, cold, "cacheregistry_upstream_bytes_total", ("registry", "docker.io")) >= layerBytes);
        Assert.True(Delta(before, cold, "cacheregistry_served_bytes_total", ("source", "upstream")) >= layerBytes);
        Assert.True(Delta(before, cold, "cacheregistry_upstream_requests_total", ("registry", "docker.io"), ("endpoint", fx.Upstream.Address), ("status", "200")) >= 2);
        Assert.True(Delta(before, cold, "cacheregistry_pulls_total", ("result", "success")) >= 1);
        Assert.Equal(0, Delta(before, cold, "cacheregistry_pulls_total", ("result", "failure")));
        Assert.True(Delta(before, cold, "cacheregistry_time_to_first_byte_seconds_count") >= 1);
        Assert.Equal(0, cold.Sum("cacheregistry_fills_in_flight"));
        Assert.True(cold.Sum("cacheregistry_store_bytes") >= layerBytes);
        Assert.Equal(1024d * 1024 * 1024, cold.Sum("cacheregistry_store_limit_bytes"));
        Assert.Equal(1, cold.Sum("cacheregistry_upstream_endpoint_up", ("registry", "docker.io")));
        Assert.All(cold.LabelsOf("cacheregistry_store_up"), l => Assert.Contains(l["store"], new[] { "blobs", "metadata", "local_disk" }));
        // The cache's own label values are words, not phrases (queries and relabelling rules spell them).
        Assert.All(cold.CacheLabelValues(), v => Assert.DoesNotContain(' ', v));
        Assert.True(cold.Has("http_server_request_duration_seconds_bucket") && cold.Has("dotnet_gc_collections_total"), "runtime and ASP.NET Core meters");

        // Warm: everything from the cache, nothing more from the upstream.
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "big:1"));
        var warm = await Exposition.ScrapeAsync(cache.Url);
        Assert.True(Delta(cold, warm, "cacheregistry_requests_total", ("kind", "blob"), ("result", "hit")) >= 1);
        Assert.True(Delta(cold, warm, "cacheregistry_served_bytes_total", ("source", "cache")) >= layerBytes);
        Assert.Equal(0, Delta(cold, warm, "cacheregistry_upstream_bytes_total"));

        // A missing tag is not a failed pull; an unreachable upstream is.
        using var http = Net.NewHttpClient();
        using (var missing = await http.GetAsync($"{cache.Url}/v2/library/big/manifests/no-such-tag"))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        // Pings and admin calls (refused ones too) have kinds of their own.
        using (var ping = await http.GetAsync($"{cache.Url}/v2/")) ping.EnsureSuccessStatusCode();
        using (var admin = await http.GetAsync($"{cache.Url}/admin/stats")) Assert.False(admin.IsSuccessStatusCode);
        var after = await Exposition.ScrapeAsync(cache.Url);
        Assert.True(Delta(warm, after, "cacheregistry_requests_total", ("kind", "ping")) >= 1);
        Assert.Equal(1, Delta(warm, after, "cacheregistry_requests_total", ("kind", "admin")));
        Assert.Equal(0, Delta(warm, after, "cacheregistry_pulls_total", ("result", "failure")));
        Assert.Equal(1, Delta(warm, after, "cacheregistry_requests_total", ("kind", "manifest"), ("result", "not_found")));

        var check = await ProcessRunner.RunAsync(ProcessRunner.Require("promtool"), ["check", "metrics"], stdin: after.Text);
        Assert.True(check.ExitCode == 0, check.Output);
    }

    [Fact]
    public async Task A_failing_upstream_shows_as_down_with_failed_pulls()
    {
        var dead = $"http://127.0.0.1:{Net.FreePort()}";
        await using var cache = await CacheServer.StartAsync(dead);
        using var http = Net.NewHttpClient();
        using (var answer = await http.GetAsync($"{cache.Url}/v2/library/x/manifests/1"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        var metrics = await Exposition.ScrapeAsync(cache.Url);
        var endpoint = new Uri(dead).Authority;
        Assert.Equal(0, metrics.Sum("cacheregistry_upstream_endpoint_up", ("registry", "docker.io"), ("endpoint", endpoint)));
        Assert.Equal(1, metrics.Sum("cacheregistry_upstream_requests_total", ("endpoint", endpoint), ("status", "unreachable")));
        Assert.Equal(1, metrics.Sum("cacheregistry_pulls_total", ("result", "failure")));
        Assert.Equal(1, metrics.Sum("cacheregistry_requests_total", ("kind", "manifest"), ("result", "error")));
    }

    [Fact]
    public async Task The_alert_rules_pass_promtool()
    {
        var check = await ProcessRunner.RunAsync(ProcessRunner.Require("promtool"), ["check", "rules", Deploy("prometheus/cacheregistry-alerts.yml")]);
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("SUCCESS: 12 rules found", check.Output);
    }

    [Fact]
    public async Task The_alert_rules_fire_on_their_series_and_stay_quiet_on_others()
    {
        var test = await ProcessRunner.RunAsync(ProcessRunner.Require("promtool"), ["test", "rules", RepoFiles.Path("tests/prometheus/alerts-test.yml")]);
        Assert.True(test.ExitCode == 0, test.Output);
        Assert.Contains("SUCCESS", test.Output);
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_the_cache_evaluates_the_alert_rules_and_runs_every_dashboard_query()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Cache:MaxSize=1GiB");
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        await using var prometheus = new PrometheusServer();
        await prometheus.StartAsync("cacheregistry", [cache.Address], Deploy("prometheus/cacheregistry-alerts.yml"));
        await Net.WaitUntilAsync(async () => (await prometheus.QueryAsync("up{job=\"cacheregistry\"} == 1")).Count == 1
                && (await prometheus.QueryAsync("cacheregistry_requests_total{kind=\"manifest\"}")).Count > 0,
            TimeSpan.FromSeconds(30), "prometheus scraping the cache\n" + prometheus.Log);
        var blobs = await prometheus.QueryAsync("sum(cacheregistry_requests_total{kind=\"blob\"})");
        Assert.True(blobs.Single().Value >= 1);

        // Every rule loads and evaluates; every metric the rules and the dashboard name exists.
        await Net.WaitUntilAsync(async () => (await prometheus.RulesAsync()) is { Count: 12 } rules && rules.All(r => r.Health == "ok"),
            TimeSpan.FromSeconds(30), "the alert rules evaluated");
        var scraped = await Exposition.ScrapeAsync(cache.Url);
        var dashboard = await File.ReadAllTextAsync(Deploy("grafana/cacheregistry-dashboard.json"));
        var rulesText = await File.ReadAllTextAsync(Deploy("prometheus/cacheregistry-alerts.yml"));
        foreach (var name in Regex.Matches(dashboard + rulesText, @"\b(?:cacheregistry|dotnet)_[a-z_]+").Select(m => m.Value).Distinct())
            Assert.True(scraped.Has(name) || OnlyAfterTheirEvent.Contains(name), $"{name} is named in deploy/ but not exported");
        using var doc = JsonDocument.Parse(dashboard);
        foreach (var panel in doc.RootElement.GetProperty("panels").EnumerateArray())
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                var expr = target.GetProperty("expr").GetString()!
                    .Replace("$__rate_interval", "1m", StringComparison.Ordinal).Replace("$__range", "1h", StringComparison.Ordinal).Replace("$instance", ".*", StringComparison.Ordinal);
                using var answer = await prometheus.RawQueryAsync(expr);
                Assert.True(answer.RootElement.GetProperty("status").GetString() == "success", $"{panel.GetProperty("title")}: {expr}\n{answer.RootElement}");
            }
    }

    // Counters that appear with their first event (a resume, a failure, an eviction) and the
    // rate-limit gauge that only upstreams reporting one have.
    private static readonly HashSet<string> OnlyAfterTheirEvent =
        ["cacheregistry_fill_resumes_total", "cacheregistry_fill_failures_total", "cacheregistry_evictions_total", "cacheregistry_upstream_ratelimit_remaining",
         "cacheregistry_image_availability", // after the first availability round
         "cacheregistry_endpoint_bad_bytes_total", "cacheregistry_signature_verifications_total", "cacheregistry_push_requests_total", "cacheregistry_pool_segments_total",
         "cacheregistry_upstream_endpoint_throughput_bytes_per_second"]; // after a body large enough to measure

    private static string Deploy(string relative) => RepoFiles.Path("deploy/" + relative);

    private static double Delta(Exposition before, Exposition after, string name, params (string, string)[] labels) =>
        after.Sum(name, labels) - before.Sum(name, labels);
}

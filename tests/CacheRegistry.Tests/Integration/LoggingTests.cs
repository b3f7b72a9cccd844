using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// The log as operators read it: JSON lines with timestamp, level, trace and request ids; levels
/// per category and the sampling of hit lines changed in the --config file without a restart.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed partial class LoggingTests(UpstreamFixture fx)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Json_lines_carry_timestamp_level_trace_and_request_ids_and_only_fields_that_mean_something()
    {
        await using var json = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Logging:Format=json", "--Logging:HitSampling=1"]);
        await json.StartAsync();
        using var http = Net.NewHttpClient();
        var trace = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"{json.Url}/v2/small/manifests/1"))
        {
            request.Headers.Add("traceparent", $"00-{trace}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}-01");
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
        await Net.WaitUntilAsync(() => Task.FromResult(json.Log.Contains("\"message\":\"GET /v2/small/manifests/1 ", StringComparison.Ordinal)), Bound, "the request line");

        var lines = json.Log.Split('\n').Where(l => l.Length > 0).ToList();
        Assert.All(lines, l => Assert.StartsWith("{", l, StringComparison.Ordinal)); // nothing else on stdout
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(events, e =>
        {
            Assert.True(DateTimeOffset.TryParse(e.GetProperty("timestamp").GetString(), out _));
            Assert.Contains(e.GetProperty("level").GetString(), new[] { "debug", "info", "warn", "error" });
            Assert.NotEmpty(e.GetProperty("category").GetString()!);
        });
        var line = events.Single(e => e.GetProperty("message").GetString()!.StartsWith("GET /v2/small/manifests/1 ", StringComparison.Ordinal));
        Assert.Equal(trace, line.GetProperty("trace_id").GetString());
        Assert.Matches("^[0-9a-f]{16}$", line.GetProperty("span_id").GetString());
        Assert.False(string.IsNullOrEmpty(line.GetProperty("request_id").GetString()));
        Assert.Equal(200, line.GetProperty("StatusCode").GetInt32());
        Assert.Equal("docker.io/library/small", line.GetProperty("Repository").GetString());
        Assert.DoesNotContain("(null)", json.Log);
        var health = json.Log.Split('\n').First(l => l.Contains("GET /healthz", StringComparison.Ordinal));
        Assert.DoesNotContain("repo=", health);
        Assert.DoesNotContain("bytes=", health);
    }

    [Fact]
    public async Task Levels_and_hit_sampling_follow_the_config_file_without_a_restart()
    {
        var config = Path.Combine(Net.TempDir("logconfig"), "cacheregistry.json");
        WriteConfig(config, "Warning", 0);
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--config", config]);
        await cache.StartAsync();
        // One connection: the server handles its requests one after another, so every line a request
        // writes is out before the next request starts (the fence for the absences checked below).
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1, UseProxy = false });

        await SendAsync(http, $"{cache.Url}/healthz?phase=a"); // request lines at Warning: not written

        WriteConfig(config, "Information", 0);
        await LoggedAfterReloadAsync(http, cache, n => $"{cache.Url}/v2/library/nosuch/manifests/b-{n}", "/manifests/b-");
        await SendAsync(http, $"{cache.Url}/healthz?phase=b"); // a ping is a routine line, sampled out at 0

        WriteConfig(config, "Information", 1);
        await LoggedAfterReloadAsync(http, cache, n => $"{cache.Url}/healthz?phase=c-{n}", "?phase=c-");

        Assert.DoesNotContain("?phase=a", cache.Log);
        Assert.DoesNotContain("?phase=b", cache.Log);
        var line = cache.Log.Split('\n').First(l => l.Contains("?phase=c-", StringComparison.Ordinal));
        Assert.True(TextLine().IsMatch(line), line);
    }

    /// <summary>Sends requests until one's line shows up: the reload took effect.</summary>
    private static async Task LoggedAfterReloadAsync(HttpClient http, CacheProcess cache, Func<int, string> url, string marker)
    {
        var n = 0;
        await Net.WaitUntilAsync(async () =>
        {
            await SendAsync(http, url(n++));
            return cache.Log.Contains(marker, StringComparison.Ordinal);
        }, Bound, $"a line with '{marker}' after the config file changed\n{cache.Log}");
    }

    private static async Task SendAsync(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        await response.Content.ReadAsByteArrayAsync();
    }

    private static void WriteConfig(string path, string requestLevel, double hitSampling) =>
        File.WriteAllText(path, $$"""
            {
              "Logging": {
                "HitSampling": {{hitSampling.ToString(System.Globalization.CultureInfo.InvariantCulture)}}
              },
              "Serilog": {
                "MinimumLevel": { "Override": { "Serilog.AspNetCore.RequestLoggingMiddleware": "{{requestLevel}}" } }
              }
            }
            """);

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info RequestLoggingMiddleware: GET /healthz\?phase=c-\d+ 200 ")]
    private static partial Regex TextLine();
}

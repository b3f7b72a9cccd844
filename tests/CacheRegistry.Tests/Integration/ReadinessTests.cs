using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Readiness as the chart's probe asks it: a pod whose Redis is gone still serves pulls and stays
/// in its Service; a pod that is draining at shutdown leaves it.
/// </summary>
public sealed class ReadinessTests
{
    private static async Task<string> ChartReadinessPathAsync()
    {
        var objects = await HelmChart.RenderObjectsAsync("replicaCount=2", "storage.mode=shared", "redis.enabled=true", "minio.enabled=true", "minio.rootPassword=change-me-please");
        var probe = "spec.template.spec.containers.0.readinessProbe.";
        var deployment = objects.Single(o => o.Kind == "Deployment");
        // A probe that takes longer than its period piles up; the server answers well inside both.
        Assert.True(int.Parse(deployment.Text(probe + "timeoutSeconds")!, System.Globalization.CultureInfo.InvariantCulture)
            < int.Parse(deployment.Text(probe + "periodSeconds")!, System.Globalization.CultureInfo.InvariantCulture));
        return deployment.Text(probe + "httpGet.path")!;
    }

    public static TheoryData<bool> RedisHangs => [false, true];

    [Theory]
    [MemberData(nameof(RedisHangs))]
    public async Task With_redis_refusing_or_hanging_pulls_work_and_the_charts_readiness_probe_says_ready(bool hangs)
    {
        var path = await ChartReadinessPathAsync();
        using var blackhole = new Blackhole();
        var redis = hangs ? blackhole.Url["http://".Length..] : $"127.0.0.1:{Net.FreePort()}";
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + upstream.Url,
            "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + redis, "--Registry:Timeouts:Store=00:00:01"]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();

        Assert.Equal(upstream.Layer, await http.GetByteArrayAsync($"{cache.Url}/v2/library/faulty/blobs/{upstream.LayerDigest}"));
        using var ready = await http.GetAsync(cache.Url + path);
        var body = await ready.Content.ReadAsStringAsync();
        Assert.True(ready.StatusCode == HttpStatusCode.OK, body);
        Assert.Contains("degraded", body);
        Assert.Contains($"redis {redis}", body);
        using var strict = await http.GetAsync(cache.Url + path + "?strict");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, strict.StatusCode);
    }

    [Fact]
    public async Task A_draining_process_is_not_ready_and_its_running_download_still_finishes()
    {
        var path = await ChartReadinessPathAsync();
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated; // the download holds at half way until the test opens the gate
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + upstream.Url]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(cache.Url + path)).StatusCode);

        using var download = await http.GetAsync($"{cache.Url}/v2/library/faulty/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead);
        var stopped = cache.TerminateAsync(TimeSpan.FromSeconds(30));
        // As the kubelet probes: a new connection each time. Draining, the server takes none (or answers 503).
        var seen = new List<string>();
        try
        {
            await Net.WaitUntilAsync(async () =>
            {
                using var probe = Net.NewHttpClient();
                try
                {
                    using var answer = await probe.GetAsync(cache.Url + path);
                    var body = await answer.Content.ReadAsStringAsync();
                    seen.Add($"{(int)answer.StatusCode} {body.Trim()}");
                    return answer.StatusCode == HttpStatusCode.ServiceUnavailable && body.Contains("draining", StringComparison.Ordinal);
                }
                catch (HttpRequestException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
                {
                    seen.Add("refused");
                    return true;
                }
            }, TimeSpan.FromSeconds(20), "readiness failing while draining");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; answers: {string.Join(" | ", seen.Distinct())}\n{cache.Log}", e);
        }
        Assert.True(cache.IsRunning, "the process drains its running download before it exits");

        upstream.Gate.SetResult();
        Assert.Equal(upstream.Layer, await download.Content.ReadAsByteArrayAsync());
        Assert.Equal(0, await stopped);
    }
}

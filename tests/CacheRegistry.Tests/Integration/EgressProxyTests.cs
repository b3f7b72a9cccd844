using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Upstream traffic through real egress proxies, shown by the proxies' own logs.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class EgressProxyTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Pulls_go_through_squid_and_a_stopped_squid_is_named_in_the_error()
    {
        await using var squid = new Squid();
        await squid.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:EgressProxy=" + squid.Url);

        Assert.Equal(fx.OciIndex.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}"));
        await Net.WaitUntilAsync(() => Task.FromResult(squid.AccessLog.Contains($"{fx.Upstream.Url}/v2/{fx.OciIndex.Repository}/blobs/", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "squid access log");
        Assert.Contains($"{fx.Upstream.Url}/v2/{fx.OciIndex.Repository}/manifests/", squid.AccessLog);

        await squid.StopAsync();
        using var http = Net.NewHttpClient();
        using var failed = await http.GetAsync($"{cache.Url}/v2/{fx.Small.Repository}/manifests/1");
        await ApiTests.AssertErrorAsync(failed, HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
        Assert.Contains($"via egress proxy {squid.Url}", await failed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Pulls_go_through_a_per_upstream_socks5_proxy_and_no_proxy_hosts_bypass_it()
    {
        await using var socks = new Microsocks();
        await socks.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Upstreams:docker.io:Proxy=" + socks.Url);
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1"));
        Assert.Contains($"connected to 127.0.0.1:{fx.Upstream.Port}", socks.Log);

        await using var bypassing = await CacheServer.StartAsync(fx.Upstream.Url,
            "--Registry:EgressProxy=" + socks.Url, "--Registry:NoProxy:0=127.0.0.1");
        var logged = socks.Log.Length;
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(bypassing.Address, "small:1"));
        Assert.Equal(logged, socks.Log.Length);
    }
}

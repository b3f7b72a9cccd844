using System.Net;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Several registries behind one endpoint, and mirror chains in front of an origin.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class UpstreamRoutingTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Containerd_and_skopeo_reach_two_registries_through_one_cache_and_names_never_mix()
    {
        // A second real registry stands in for registry.k8s.io and quay.io.
        await using var k8s = new UpstreamRegistry();
        await k8s.StartAsync();
        var pause = TestImage.Build("pause", "3.9", ImageFormat.Oci, ["linux/amd64", "linux/arm64"], [4 * 1024], Net.TempDir("pause"));
        var quaySmall = TestImage.Build("library/small", "1", ImageFormat.Oci, ["linux/amd64"], [2 * 1024], Net.TempDir("quay"));
        await Task.WhenAll(pause.PushAsync(k8s.Address), quaySmall.PushAsync(k8s.Address));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url,
            "--Registry:Upstreams:registry.k8s.io:Endpoints:0=" + k8s.Url, "--Registry:Upstreams:quay.io:Endpoints:0=" + k8s.Url);

        // containerd: one hosts.toml per registry, both naming the cache; requests carry ?ns=.
        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        containerd.MirrorTo("docker.io", cache.Url);
        containerd.MirrorTo("registry.k8s.io", cache.Url);
        await containerd.PullAsync("registry.k8s.io/pause:3.9");
        await containerd.PullAsync($"docker.io/{fx.Small.Repository}:1");
        Assert.Equal(pause.Digest, await containerd.DigestOfAsync("registry.k8s.io/pause:3.9"));
        Assert.Equal(fx.Small.Digest, await containerd.DigestOfAsync($"docker.io/{fx.Small.Repository}:1"));

        // skopeo and kubeadm-style path prefixes, the frozen k8s.gcr.io alias included.
        Assert.Equal(pause.Digest, await Skopeo.PullAsync(cache.Address, "registry.k8s.io/pause:3.9"));
        Assert.Equal(pause.Digest, await Skopeo.PullAsync(cache.Address, "k8s.gcr.io/pause:3.9"));
        // Same repository name on two registries: two caches entries, two digests.
        Assert.Equal(quaySmall.Digest, await Skopeo.PullAsync(cache.Address, "quay.io/library/small:1"));
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "docker.io/library/small:1"));
        Assert.NotEqual(quaySmall.Digest, fx.Small.Digest);
    }

    [Fact]
    public async Task A_repository_outside_the_allow_list_is_denied_before_any_fetch()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Upstreams:docker.io:Repositories:0=library/small");
        using var http = Net.NewHttpClient();
        var mark = await fx.Upstream.MarkAsync();
        using var denied = await http.GetAsync($"{cache.Url}/v2/library/big/manifests/1");
        await ApiTests.AssertErrorAsync(denied, HttpStatusCode.Forbidden, "DENIED");
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
    }

    public enum FirstEndpoint { Refused, Stalled, RateLimited }

    [Theory]
    [InlineData(FirstEndpoint.Refused)]
    [InlineData(FirstEndpoint.Stalled)]
    [InlineData(FirstEndpoint.RateLimited)]
    public async Task A_mirror_chain_falls_over_to_the_next_endpoint_and_cools_a_failing_one_down(FirstEndpoint kind)
    {
        using var blackhole = new Blackhole();
        await using var limiter = await StatusServer.StartAsync(429);
        var first = kind switch
        {
            FirstEndpoint.Refused => $"http://127.0.0.1:{Net.FreePort()}",
            FirstEndpoint.Stalled => blackhole.Url,
            _ => limiter.Url,
        };
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url,
            "--Registry:Upstreams:docker.io:Endpoints:0=" + first, "--Registry:Upstreams:docker.io:Endpoints:1=" + fx.Upstream.Url,
            "--Registry:Upstreams:docker.io:FailuresBeforeCoolDown=2", "--Registry:Upstreams:docker.io:CoolDown=00:10:00",
            "--Registry:Timeouts:FirstByte=00:00:01");

        Assert.Equal(fx.OciIndex.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}"));

        using var http = Net.NewHttpClient();
        using var status = JsonDocument.Parse(await http.GetStringAsync($"{cache.Url}/status/upstreams"));
        var docker = status.RootElement.GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "docker.io");
        var endpoints = docker.GetProperty("endpoints").EnumerateArray().ToList();
        Assert.False(endpoints[0].GetProperty("healthy").GetBoolean());
        Assert.True(endpoints[1].GetProperty("healthy").GetBoolean());
        if (kind == FirstEndpoint.RateLimited)
        {
            // Cooling down: later requests skip it.
            var before = limiter.Requests;
            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
            Assert.Equal(before, limiter.Requests);
        }
    }

    [Fact]
    public async Task With_tags_from_origin_only_a_stale_mirror_serves_digests_but_never_tags()
    {
        // The mirror holds the same content, but its tag points at an older image.
        await using var mirror = new UpstreamRegistry();
        await mirror.StartAsync();
        await fx.Small.PushAsync(mirror.Address);
        var older = TestImage.Build("library/small", "1", ImageFormat.Oci, ["linux/amd64"], [1024], Net.TempDir("older"));
        await older.PushAsync(mirror.Address);

        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url,
            "--Registry:Upstreams:docker.io:Endpoints:0=" + mirror.Url, "--Registry:Upstreams:docker.io:Endpoints:1=" + fx.Upstream.Url,
            "--Registry:Upstreams:docker.io:TagsFromOriginOnly=true");
        var mirrorMark = await mirror.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Empty(await mirror.RequestsSinceAsync(mirrorMark, "GET", "/v2/library/small/manifests/1 "));
        Assert.Empty(await mirror.RequestsSinceAsync(mirrorMark, "HEAD", "/v2/library/small/manifests/1 "));
        Assert.NotEmpty(await mirror.RequestsSinceAsync(mirrorMark, "GET", "/v2/library/small/blobs/"));
    }
}

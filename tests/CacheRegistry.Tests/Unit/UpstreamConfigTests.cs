using System.Net;
using CacheRegistry.Routing;
using CacheRegistry.Server.Operations;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

public sealed class UpstreamConfigTests
{
    [Theory]
    [InlineData("library/*", "library/nginx", true)]
    [InlineData("library/*", "library/a/b", false)]
    [InlineData("team/**", "team/a/b/c", true)]
    [InlineData("**/base", "x/y/base", true)]
    [InlineData("nginx", "nginx", true)]
    [InlineData("nginx", "nginx2", false)]
    [InlineData("*", "anything", true)]
    public void Repository_patterns(string pattern, string name, bool matches) =>
        Assert.Equal(matches, RepositoryPattern.Matches(pattern, name));

    [Fact]
    public void No_proxy_rules_cover_hosts_suffixes_and_wildcards()
    {
        var proxy = new EgressProxy("http://user:p%40ss@proxy.lan:3128", ["internal.lan, .corp.example", "*.svc"]);
        Assert.Equal("http://proxy.lan:3128", proxy.Address);
        Assert.Equal("p@ss", ((NetworkCredential)proxy.Credentials!).Password);
        Assert.True(proxy.IsBypassed(new Uri("https://internal.lan/v2/")));
        Assert.True(proxy.IsBypassed(new Uri("https://registry.corp.example/v2/")));
        Assert.True(proxy.IsBypassed(new Uri("https://corp.example/v2/")));
        Assert.True(proxy.IsBypassed(new Uri("http://redis.default.svc/")));
        Assert.False(proxy.IsBypassed(new Uri("https://registry-1.docker.io/v2/")));
        Assert.Equal(new Uri("http://proxy.lan:3128"), proxy.GetProxy(new Uri("https://ghcr.io/v2/")));
        Assert.Null(EgressProxy.Resolve("direct", "http://global:1", []));
        Assert.Equal("socks5://s:1080", EgressProxy.Resolve("socks5://s:1080", "http://global:1", [])!.Address);
        Assert.Throws<ArgumentException>(() => new EgressProxy("ftp://x", []));
    }

    [Fact]
    public async Task A_cooling_endpoint_is_tried_last_until_its_cool_down_ends()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var handler = new StubHandler(r => r.RequestUri!.Host == "bad.test"
            ? throw new HttpRequestException("refused") : new HttpResponseMessage(HttpStatusCode.OK));
        var repo = Stub.Repo(handler, time, options: new UpstreamOptions
        {
            Endpoints = ["https://bad.test", "https://good.test"], FailuresBeforeCoolDown = 2, CoolDown = TimeSpan.FromMinutes(1),
        });
        for (var i = 0; i < 2; i++) (await repo.Upstream.HeadManifestAsync("x", "1", default)).Dispose();
        var asked = handler.Requests.Count;
        (await repo.Upstream.HeadManifestAsync("x", "1", default)).Dispose();
        Assert.Equal(asked + 1, handler.Requests.Count); // the bad endpoint was skipped
        Assert.True(repo.Upstream.Endpoints[0].IsCoolingDown(time.GetUtcNow()));

        time.Now += TimeSpan.FromMinutes(2);
        (await repo.Upstream.HeadManifestAsync("x", "1", default)).Dispose();
        Assert.Equal("https://bad.test/v2/x/manifests/1", handler.Requests[^2].Url); // probed again
    }

    [Fact]
    public async Task Tags_from_origin_only_go_to_the_last_endpoint()
    {
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK));
        var repo = Stub.Repo(handler, TimeProvider.System, options: new UpstreamOptions { Endpoints = ["https://mirror.test", "https://origin.test"], TagsFromOriginOnly = true });
        (await repo.Upstream.HeadManifestAsync("x", "1", default)).Dispose();
        Assert.StartsWith("https://origin.test/", handler.Requests.Single().Url);
    }

    [Fact]
    public void With_built_in_upstreams_off_only_configured_registries_and_their_aliases_exist()
    {
        var options = new RegistryOptions { BuiltInUpstreams = false };
        options.Upstreams["docker.io"] = new UpstreamOptions { Endpoints = ["http://127.0.0.1:9"] };
        using var set = new UpstreamSet(options, TimeProvider.System, NullLoggerFactory.Instance);
        Assert.Equal(["docker.io"], set.All.Select(u => u.Name));
        Assert.Same(set.Find("docker.io"), set.Find("index.docker.io"));
        Assert.Null(set.Find("quay.io"));
        Assert.Null(set.Find("k8s.gcr.io"));

        using var all = new UpstreamSet(new RegistryOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        Assert.Equal(BuiltInUpstreams.Table.Count(t => t.Value.AliasOf is null), all.All.Count());
    }

    [Fact]
    public void Client_config_covers_every_client_and_upstream()
    {
        var upstreams = new UpstreamSet(new RegistryOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        var text = ClientConfig.Render("mirror.lan:5000", https: false, upstreams);
        Assert.Contains("\"registry-mirrors\": [\"http://mirror.lan:5000\"]", text);
        Assert.Contains("# /etc/containerd/certs.d/registry.k8s.io/hosts.toml", text);
        Assert.Contains("# /etc/containerd/certs.d/k8s.gcr.io/hosts.toml", text);
        Assert.Contains("[host.\"http://mirror.lan:5000\"]", text);
        Assert.Contains("[plugins.\"io.containerd.cri.v1.images\".registry]", text);
        Assert.Contains("# /etc/containerd/certs.d/_default/hosts.toml", text);
        Assert.Contains("dial_timeout = \"2s\"", text);
        Assert.Contains("\"Hosts\": { \"k8s.mirror.lan\": \"registry.k8s.io\" }", text);
        Assert.Contains("location = \"mirror.lan:5000/quay.io\"", text);
        Assert.Contains("imageRepository: mirror.lan:5000/registry.k8s.io", text);
        Assert.DoesNotContain("registry-mirrors", ClientConfig.Render("m:5000", true, upstreams, "kubeadm"));
    }
}

public sealed class OperationsUnitTests
{
    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("user/app", "docker.io/user/app:latest")]
    [InlineData("index.docker.io/library/nginx:1", "docker.io/library/nginx:1")]
    [InlineData("registry.k8s.io/kube-apiserver:v1.29.0", "registry.k8s.io/kube-apiserver:v1.29.0")]
    [InlineData("localhost:5000/x/y:2", "localhost:5000/x/y:2")]
    [InlineData("ghcr.io/org/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "ghcr.io/org/app@sha256:0000000000000000000000000000000000000000000000000000000000000000")]
    public void Image_references_normalise_like_docker(string text, string expected) =>
        Assert.Equal(expected, CacheRegistry.Oci.ImageReference.Parse(text).ToString());

    [Theory]
    [InlineData("Nginx")]
    [InlineData("nginx:-bad")]
    [InlineData("x@sha256:123")]
    public void Bad_image_references_are_refused(string text) =>
        Assert.Throws<FormatException>(() => CacheRegistry.Oci.ImageReference.Parse(text));

    [Theory]
    [InlineData("500MB", 500_000_000)]
    [InlineData("50GiB", 50L << 30)]
    [InlineData("1.5k", 1536)]
    [InlineData("1073741824", 1073741824)]
    public void Sizes(string text, long bytes) => Assert.Equal(bytes, CacheRegistry.Common.ByteSize.Parse(text).Bytes);

    [Fact]
    public void Kubeadm_image_lists_read_as_is() =>
        Assert.Equal(["registry.k8s.io/kube-apiserver:v1.29.0", "registry.k8s.io/pause:3.9"],
            CacheRegistry.Server.Operations.Warmer.ReadList(new StringReader("registry.k8s.io/kube-apiserver:v1.29.0\n\n# comment\nregistry.k8s.io/pause:3.9\n")));

    [Fact]
    public void Sync_and_cache_keys_are_known()
    {
        Assert.True(CacheRegistry.Server.Hosting.ConfigurationKeys.IsKnown("Registry:Sync:0:Image"));
        Assert.True(CacheRegistry.Server.Hosting.ConfigurationKeys.IsKnown("Registry:Cache:Pinned:3"));
        Assert.True(CacheRegistry.Server.Hosting.ConfigurationKeys.IsKnown("Registry:Admin:Token"));
    }
}

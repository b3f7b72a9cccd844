using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

public sealed class RouterTests
{
    private static UpstreamRouter Router(Action<RegistryOptions>? configure = null)
    {
        var options = new RegistryOptions();
        configure?.Invoke(options);
        return new UpstreamRouter(new UpstreamSet(options, TimeProvider.System, NullLoggerFactory.Instance), options);
    }

    [Theory]
    [InlineData("nginx", null, "docker.io/library/nginx")]
    [InlineData("library/nginx", "docker.io", "docker.io/library/nginx")]
    [InlineData("user/app", null, "docker.io/user/app")]
    [InlineData("pause", "registry.k8s.io", "registry.k8s.io/pause")]
    [InlineData("registry.k8s.io/pause", null, "registry.k8s.io/pause")]
    [InlineData("k8s.gcr.io/pause", null, "registry.k8s.io/pause")]
    [InlineData("docker.io/nginx", null, "docker.io/library/nginx")]
    [InlineData("index.docker.io/library/nginx", null, "docker.io/library/nginx")]
    [InlineData("ghcr.io/org/img", null, "ghcr.io/org/img")]
    public void Routes_by_ns_then_prefix_then_default(string name, string? ns, string key) =>
        Assert.Equal(key, Router().Resolve(name, ns, null).Key);

    [Fact]
    public void Host_names_map_to_upstreams() =>
        Assert.Equal("quay.io/x/y", Router(o => o.Hosts["quay.mirror.lan"] = "quay.io").Resolve("x/y", null, "quay.mirror.lan").Key);

    [Theory]
    [InlineData("x", "evil.example.com")]
    [InlineData("evil.example.com/x", null)]
    [InlineData("localhost/x", null)]
    public void Unconfigured_registries_are_never_fetched_from(string name, string? ns) =>
        Assert.Equal("NAME_UNKNOWN", Assert.Throws<RegistryError>(() => Router().Resolve(name, ns, null)).Code);

    [Fact]
    public void Configured_endpoints_replace_the_built_in_ones()
    {
        var upstreams = new UpstreamSet(new RegistryOptions { Upstreams = { ["docker.io"] = new() { Endpoints = ["http://127.0.0.1:1"] } } },
            TimeProvider.System, NullLoggerFactory.Instance);
        Assert.Equal("http://127.0.0.1:1/", upstreams.Find("docker.io")!.Endpoints.Single().BaseUri.ToString());
        Assert.Same(upstreams.Find("docker.io"), upstreams.Find("index.docker.io"));
    }
}

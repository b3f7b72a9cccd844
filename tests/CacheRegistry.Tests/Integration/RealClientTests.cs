using System.Text.RegularExpressions;
using CacheRegistry.Server.Operations;
using CacheRegistry.Tests.Infrastructure;
using CacheRegistry.Upstream;

namespace CacheRegistry.Tests.Integration;

/// <summary>containerd and dockerd pull through the cache as they do in production.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class RealClientTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Containerd_pulls_through_a_hosts_toml_mirror_with_identical_digests()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Upstreams:registry.k8s.io:Endpoints:0=" + fx.Upstream.Url);
        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        // The files client-config prints, as an operator installs them (dial_timeout and _default
        // included), with every origin moved to a dead loopback port: only the cache can answer.
        var rendered = ClientConfig.Render(cache.Address, https: false, cache.Service<UpstreamSet>(), "containerd");
        var dead = $"http://127.0.0.1:{Net.FreePort()}";
        containerd.UseClientConfig(rendered, toml => Regex.Replace(toml, "server = \"[^\"]*\"", $"server = \"{dead}\""));
        var image = fx.ForContainerd;
        var reference = $"docker.io/{image.Repository}:{image.Tag}";

        var mark = await fx.Upstream.MarkAsync();
        await containerd.PullAsync(reference); // arrives as /v2/library/ctr-img/...?ns=docker.io
        Assert.Equal(image.Digest, await containerd.DigestOfAsync(reference));
        // One platform's config and layers, each fetched from the upstream exactly once.
        Assert.Equal(image.Platforms["linux/amd64"].Blobs.Count, await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));

        await containerd.CtrAsync("images", "rm", "--sync", reference);
        mark = await fx.Upstream.MarkAsync();
        await containerd.PullAsync(reference);
        Assert.Equal(image.Digest, await containerd.DigestOfAsync(reference));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));

        // Another registry through its own hosts.toml.
        var k8s = $"registry.k8s.io/{image.Repository}:{image.Tag}";
        await containerd.PullAsync(k8s);
        Assert.Equal(image.Digest, await containerd.DigestOfAsync(k8s));
    }

    [Fact]
    public async Task Dockerd_pulls_through_registry_mirrors_with_identical_digests()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        await using var docker = new DockerDaemon();
        await docker.StartAsync(containerd.Socket, cache.Url);
        var image = fx.ForDocker;
        var name = image.Repository["library/".Length..];

        var mark = await fx.Upstream.MarkAsync();
        await docker.DockerAsync("pull", $"{name}:{image.Tag}");
        Assert.Equal(image.Digest, await docker.RepoDigestAsync($"{name}:{image.Tag}"));
        Assert.Equal(image.Platforms["linux/amd64"].Blobs.Count, await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));

        await docker.DockerAsync("rmi", $"{name}:{image.Tag}");
        mark = await fx.Upstream.MarkAsync();
        await docker.DockerAsync("pull", $"{name}:{image.Tag}");
        Assert.Equal(image.Digest, await docker.RepoDigestAsync($"{name}:{image.Tag}"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));
    }
}

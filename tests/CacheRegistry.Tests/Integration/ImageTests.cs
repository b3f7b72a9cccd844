using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>A private dockerd with the bookworm base and the image deploy/build-image.sh makes, built once for the class.</summary>
public sealed class ImageFixture : IAsyncLifetime
{
    public const string Image = "cacheregistry:latest";
    private ContainerdDaemon Containerd { get; } = new();

    public DockerDaemon Docker { get; } = new();

    public async Task InitializeAsync()
    {
        await Containerd.StartAsync();
        await Docker.StartAsync(Containerd.Socket, $"http://127.0.0.1:{Net.FreePort()}");
        await BaseImage.ImportAsync(Docker);
        await ProcessRunner.RunCheckedAsync("bash", [RepoFiles.Path("deploy/build-image.sh"), Image, "--network", "host", "--build-arg", "BASE=" + BaseImage.Name],
            TimeSpan.FromMinutes(10), Environment);
    }

    /// <summary>The environment docker and docker-compose need to reach this dockerd.</summary>
    public Dictionary<string, string> Environment => new() { ["DOCKER_HOST"] = Docker.Host, ["DOCKER_BUILDKIT"] = "0" };

    public async Task DisposeAsync()
    {
        await Docker.DisposeAsync();
        await Containerd.DisposeAsync();
    }
}

/// <summary>
/// deploy/Dockerfile built by deploy/build-image.sh on a base made here, and run as users run it:
/// on its own (host network, read-only root filesystem, /data a volume, /tmp a tmpfs, the non-root
/// user), and as the project's docker-compose.yml with stand-ins for the images no registry here
/// can supply (tests/compose-standins).
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ImageTests(UpstreamFixture fx, ImageFixture images) : IClassFixture<ImageFixture>
{
    private DockerDaemon Docker => images.Docker;

    [Fact]
    public async Task The_image_builds_runs_read_only_as_non_root_serves_pulls_and_drains_on_sigterm()
    {
        await using var faulty = await FaultyUpstream.StartAsync();
        var data = Net.TempDir("image-data");
        await ProcessRunner.RunCheckedAsync("chown", ["1654:1654", data]);
        var port = Net.FreePort();
        await Docker.DockerAsync("run", "-d", "--name", "cache", "--network", "host", "--read-only", "--tmpfs", "/tmp", "-v", data + ":/data",
            ImageFixture.Image, "serve", $"--urls=http://127.0.0.1:{port}", // the image's ASPNETCORE_URLS says :5000; the health check must follow --urls
            "--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:Upstreams:quay.io:Endpoints:0=" + faulty.Url);
        try
        {
            await WaitHealthyAsync("cache");
            Assert.Equal("1654", (await Docker.DockerAsync("exec", "cache", "id", "-u")).Trim());
            await Assert.ThrowsAnyAsync<Exception>(() => Docker.DockerAsync("exec", "cache", "touch", "/app/written")); // read-only

            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync($"127.0.0.1:{port}", "small:1"));
            Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(data, "blobs"), "*", SearchOption.AllDirectories));

            // SIGTERM with a download running: it finishes, the client gets every byte, the container exits 0.
            faulty.Fault = BlobFault.SlowDrip;
            using var http = Net.NewHttpClient();
            using (var manifest = await http.GetAsync($"http://127.0.0.1:{port}/v2/library/faulty/manifests/latest?ns=quay.io")) manifest.EnsureSuccessStatusCode();
            var download = http.GetByteArrayAsync($"http://127.0.0.1:{port}/v2/library/faulty/blobs/{faulty.LayerDigest}?ns=quay.io");
            await Net.WaitUntilAsync(() => Task.FromResult(faulty.BlobGets == 1), TimeSpan.FromSeconds(10), "the download under way");
            await Docker.DockerAsync("stop", "-t", "40", "cache");
            Assert.Equal(faulty.Layer, await download);
            Assert.Equal("0", (await Docker.DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "cache")).Trim());
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(e.Message + "\ncontainer log:\n" + await Docker.DockerAsync("logs", "cache"), e);
        }
        finally
        {
            await ProcessRunner.RunAsync(ProcessRunner.Require("docker"), ["-H", Docker.Host, "rm", "-f", "cache"]);
        }
    }

    [Fact]
    public async Task The_compose_stack_comes_up_healthy_keeps_blobs_in_s3_and_metadata_in_redis_across_restart_and_down_up()
    {
        await Task.WhenAll(BuildStandInAsync("redis"), BuildStandInAsync("minio"));
        var compose = new ComposeProject(images.Environment, Net.FreePort());
        try
        {
            // The network comes first: the upstream's relay listens on its gateway so the cache container reaches it.
            await compose.RunAsync("up", "-d", "minio-init");
            var gateway = IPAddress.Parse((await Docker.DockerAsync("network", "inspect", compose.Project + "_default",
                "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")).Trim());
            await using var upstream = new FaultRelay(fx.Upstream.Port, gateway);
            compose.UpstreamUrl = upstream.Url;
            await compose.RunAsync("up", "-d");
            var cache = await compose.ContainerAsync("cacheregistry");
            await WaitHealthyAsync(cache);

            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(compose.Address, "small:1"));
            var log = await Docker.DockerAsync("logs", cache);
            Assert.Contains("blobs (s3 ", log);
            Assert.Contains("metadata (redis ", log);
            Assert.DoesNotContain("is not one CacheRegistry reads", log);
            var objects = await compose.RunAsync("exec", "-T", "minio", "find", "/data/cacheregistry", "-type", "f");
            Assert.All(fx.Small.AllBlobs, blob => Assert.Contains(blob["sha256:".Length..], objects, StringComparison.Ordinal));
            var keys = await compose.RunAsync("exec", "-T", "redis", "redis-cli", "--scan", "--pattern", "cacheregistry:*");
            Assert.Contains("library/small", keys, StringComparison.Ordinal);

            // From here the upstream refuses: every pull below is served from what the stack kept.
            upstream.Mode = RelayMode.Refuse;
            await compose.RunAsync("restart", "cacheregistry");
            await WaitHealthyAsync(await compose.ContainerAsync("cacheregistry"));
            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(compose.Address, "small:1"));

            await compose.RunAsync("down");
            await compose.RunAsync("up", "-d");
            await WaitHealthyAsync(await compose.ContainerAsync("cacheregistry"));
            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(compose.Address, "small:1"));
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(e.Message + "\ncompose logs:\n" + await compose.LogsAsync(), e);
        }
        finally
        {
            await compose.DisposeAsync();
        }
    }

    private Task WaitHealthyAsync(string container) =>
        Net.WaitUntilAsync(async () => (await Docker.DockerAsync("inspect", "-f", "{{.State.Health.Status}}", container)).Trim() == "healthy",
            TimeSpan.FromSeconds(90), $"{container}'s HEALTHCHECK passing");

    /// <summary>Builds tests/compose-standins/NAME as cacheregistry-standin-NAME:test (the minio one with the host's node and s3rver).</summary>
    private async Task BuildStandInAsync(string name)
    {
        var context = Net.TempDir("standin-" + name);
        await ProcessRunner.RunCheckedAsync("cp", ["-a", RepoFiles.Path("tests/compose-standins/" + name) + "/.", context]);
        if (name == "minio")
        {
            await ProcessRunner.RunCheckedAsync("cp", [ProcessRunner.Require("node"), Path.Combine(context, "node")]);
            var s3rver = Path.GetDirectoryName(Path.GetDirectoryName(ResolveLinks(ProcessRunner.Require("s3rver"))))!;
            await ProcessRunner.RunCheckedAsync("cp", ["-a", s3rver, Path.Combine(context, "s3rver")]);
        }
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("docker"), ["-H", Docker.Host, "build", "-t", $"cacheregistry-standin-{name}:test",
            "--network", "host", "--build-arg", "BASE=" + BaseImage.Name, context], TimeSpan.FromMinutes(10), images.Environment);
        await ProcessRunner.RunAsync("rm", ["-rf", context]);
    }

    private static string ResolveLinks(string path) => new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
}

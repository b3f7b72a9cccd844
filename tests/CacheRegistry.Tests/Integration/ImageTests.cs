using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// deploy/Dockerfile built by deploy/build-image.sh on a base made here, and run as users run it:
/// host network, read-only root filesystem, /data a volume, /tmp a tmpfs, the non-root user. Its
/// HEALTHCHECK turns healthy, skopeo pulls through it, and SIGTERM lets a running download finish.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ImageTests(UpstreamFixture fx)
{
    [Fact]
    public async Task The_image_builds_runs_read_only_as_non_root_serves_pulls_and_drains_on_sigterm()
    {
        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        await using var docker = new DockerDaemon();
        await docker.StartAsync(containerd.Socket, $"http://127.0.0.1:{Net.FreePort()}");
        await BaseImage.ImportAsync(docker);
        await ProcessRunner.RunCheckedAsync("bash", [RepoFiles.Path("deploy/build-image.sh"), "cacheregistry:test", "--network", "host", "--build-arg", "BASE=" + BaseImage.Name],
            TimeSpan.FromMinutes(10), new Dictionary<string, string> { ["DOCKER_HOST"] = docker.Host });

        await using var faulty = await FaultyUpstream.StartAsync();
        var data = Net.TempDir("image-data");
        await ProcessRunner.RunCheckedAsync("chown", ["1654:1654", data]);
        var port = Net.FreePort();
        await docker.DockerAsync("run", "-d", "--name", "cache", "--network", "host", "--read-only", "--tmpfs", "/tmp", "-v", data + ":/data",
            "-e", $"ASPNETCORE_URLS=http://127.0.0.1:{port}", "cacheregistry:test", "serve",
            "--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:Upstreams:quay.io:Endpoints:0=" + faulty.Url);
        try
        {
            await Net.WaitUntilAsync(async () => (await docker.DockerAsync("inspect", "-f", "{{.State.Health.Status}}", "cache")).Trim() == "healthy",
                TimeSpan.FromSeconds(60), "the container's HEALTHCHECK passing");
            Assert.Equal("1654", (await docker.DockerAsync("exec", "cache", "id", "-u")).Trim());
            await Assert.ThrowsAnyAsync<Exception>(() => docker.DockerAsync("exec", "cache", "touch", "/app/written")); // read-only

            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync($"127.0.0.1:{port}", "small:1"));
            Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(data, "blobs"), "*", SearchOption.AllDirectories));

            // SIGTERM with a download running: it finishes, the client gets every byte, the container exits 0.
            faulty.Fault = BlobFault.SlowDrip;
            using var http = Net.NewHttpClient();
            using (var manifest = await http.GetAsync($"http://127.0.0.1:{port}/v2/library/faulty/manifests/latest?ns=quay.io")) manifest.EnsureSuccessStatusCode();
            var download = http.GetByteArrayAsync($"http://127.0.0.1:{port}/v2/library/faulty/blobs/{faulty.LayerDigest}?ns=quay.io");
            await Net.WaitUntilAsync(() => Task.FromResult(faulty.BlobGets == 1), TimeSpan.FromSeconds(10), "the download under way");
            await docker.DockerAsync("stop", "-t", "40", "cache");
            Assert.Equal(faulty.Layer, await download);
            Assert.Equal("0", (await docker.DockerAsync("inspect", "-f", "{{.State.ExitCode}}", "cache")).Trim());
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(e.Message + "\ncontainer log:\n" + await docker.DockerAsync("logs", "cache"), e);
        }
        finally
        {
            await ProcessRunner.RunAsync(ProcessRunner.Require("docker"), ["-H", docker.Host, "rm", "-f", "cache"]);
        }
    }
}

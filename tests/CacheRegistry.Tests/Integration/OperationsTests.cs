using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CacheRegistry.Maintenance;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Size limit, GC, warming, offline bundles, the ledger and the admin API.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class OperationsTests(UpstreamFixture fx)
{
    private static string BlobPath(string dataDir, string digest) => Path.Combine(dataDir, "blobs", "sha256", digest[7..9], digest[7..]);

    [Fact]
    public async Task Eviction_under_a_small_quota_keeps_pinned_images_and_refetches_the_rest_on_demand()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url,
            "--Registry:Cache:MaxSize=200KB", "--Registry:Cache:Pinned:0=docker.io/library/small");
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Equal(fx.ForContainerd.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.ForContainerd.Repository}:1"));

        var result = await cache.Service<Evictor>().RunAsync(default);
        Assert.NotNull(result);
        Assert.True(result.Evicted > 0);
        Assert.True(result.BytesAfter <= 200_000 * 0.8);
        Assert.All(fx.Small.AllBlobs, b => Assert.True(File.Exists(BlobPath(cache.DataDir, b)), $"pinned {b} was evicted"));
        Assert.Contains(fx.ForContainerd.AllBlobs, b => !File.Exists(BlobPath(cache.DataDir, b)));

        // The pinned image is still whole; the evicted one comes back from the upstream.
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository));
        Assert.Equal(fx.ForContainerd.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.ForContainerd.Repository}:1"));
        Assert.True(await fx.Upstream.BlobGetsSinceAsync(mark, fx.ForContainerd.Repository) > 0);
    }

    [Fact]
    public async Task Gc_removes_only_unreferenced_blobs_while_pulls_run()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Cache:GcGrace=00:00:00", "--Registry:Admin:Token=t0ken");
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1"));
        using var http = Net.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken");
        (await http.PostAsync($"{cache.Url}/admin/purge?image=dlist:1", null)).EnsureSuccessStatusCode();

        // GC in a loop while other images are pulled: the pulls must all succeed and keep their blobs.
        var gc = cache.Service<GarbageCollector>();
        using var stop = new CancellationTokenSource();
        var collector = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) await gc.RunAsync(null, default);
        });
        var pulls = await Task.WhenAll(
            Skopeo.PullAsync(cache.Address, $"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}"),
            Skopeo.PullAsync(cache.Address, "small:1"),
            Skopeo.PullAsync(cache.Address, $"{fx.DockerBig.Repository}:1"));
        await stop.CancelAsync();
        await collector;
        Assert.Equal([fx.OciIndex.Digest, fx.Small.Digest, fx.DockerBig.Digest], pulls);

        var result = await gc.RunAsync(null, default);
        Assert.All(fx.DockerList.AllBlobs, b => Assert.False(File.Exists(BlobPath(cache.DataDir, b)), $"unreferenced {b} kept"));
        Assert.All(fx.DockerBig.AllBlobs, b => Assert.True(File.Exists(BlobPath(cache.DataDir, b)), $"referenced {b} removed"));
        Assert.Equal(0, result.BlobsRemoved);
    }

    [Fact]
    public async Task Gc_says_what_its_grace_period_kept()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Admin:Token=t0ken"); // GcGrace 1 h
        Assert.Equal(fx.DockerList.Digest, await Skopeo.PullAsync(cache.Address, $"{fx.DockerList.Repository}:1"));
        using var http = Net.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken");
        (await http.PostAsync($"{cache.Url}/admin/purge?image=dlist:1", null)).EnsureSuccessStatusCode();

        var reports = new List<string>();
        var result = await cache.Service<GarbageCollector>().RunAsync(new InlineProgress<string>(reports.Add), default);
        Assert.Equal(0, result.BlobsRemoved);
        Assert.Equal(fx.DockerList.AllBlobs.Count(), result.BlobsKeptYoung);
        Assert.Contains($"{result.BlobsKeptYoung} blobs kept: unreferenced for less than 1 h (Registry:Cache:GcGrace)", reports.Last());
    }

    [Fact]
    public async Task Warm_from_a_kubeadm_style_list_then_pulls_are_hits()
    {
        await using var k8s = new UpstreamRegistry();
        await k8s.StartAsync();
        var apiserver = TestImage.Build("kube-apiserver", "v1.29.0", ImageFormat.Oci, ["linux/amd64", "linux/arm64"], [32 * 1024], Net.TempDir("k8s"));
        var pause = TestImage.Build("pause", "3.9", ImageFormat.Docker, ["linux/amd64"], [1024], Net.TempDir("k8s"));
        await Task.WhenAll(apiserver.PushAsync(k8s.Address), pause.PushAsync(k8s.Address));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Upstreams:registry.k8s.io:Endpoints:0=" + k8s.Url);
        var list = Path.Combine(Net.TempDir("list"), "images.txt");
        await File.WriteAllTextAsync(list, "registry.k8s.io/kube-apiserver:v1.29.0\nregistry.k8s.io/pause:3.9\n");

        var run = await Cli.RunAsync("warm", "-f", list, "--server", cache.Url);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("2 of 2 images warmed", run.Output);
        Assert.Contains("[2/2] registry.k8s.io/pause:3.9", run.Output);

        var mark = await k8s.MarkAsync();
        Assert.Equal(apiserver.Digest, await Skopeo.PullAsync(cache.Address, "registry.k8s.io/kube-apiserver:v1.29.0"));
        Assert.Equal(pause.Digest, await Skopeo.PullAsync(cache.Address, "registry.k8s.io/pause:3.9"));
        Assert.Empty(await k8s.AllRequestsSinceAsync(mark));

        var failed = await Cli.RunAsync("warm", "registry.k8s.io/nosuch:1", "--server", cache.Url);
        Assert.Equal(1, failed.ExitCode);
        Assert.Equal(2, (await Cli.RunAsync("warm", "--server", cache.Url)).ExitCode);
    }

    [Fact]
    public async Task Export_then_import_into_an_instance_whose_upstream_is_gone_serves_skopeo_and_containerd()
    {
        await using var source = await CacheServer.StartAsync(fx.Upstream.Url);
        var bundle = Path.Combine(Net.TempDir("bundle"), "bundle.tar");
        var export = await Cli.RunAsync("export", "--out", bundle, "--server", source.Url, $"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}", "small:1");
        Assert.True(export.ExitCode == 0, export.Output);

        // skopeo reads the layout.
        var dir = Net.TempDir("fromtar");
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("skopeo"),
            ["copy", "--all", "--quiet", $"oci-archive:{bundle}:docker.io/{fx.OciIndex.Repository}:{fx.OciIndex.Tag}", $"dir:{dir}"]);
        Assert.Equal(fx.OciIndex.Digest, "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "manifest.json")))));

        // An air-gapped instance: its upstream does not exist.
        var dataDir = Net.TempDir("airgap");
        var dead = $"http://127.0.0.1:{Net.FreePort()}";
        var import = await Cli.RunAsync("import", bundle, "--create", "--Registry:DataDir=" + dataDir);
        Assert.True(import.ExitCode == 0, import.Output);
        Assert.Contains("imported 2 images", import.Output);
        await using var airgap = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:docker.io:Endpoints:0=" + dead]);
        Assert.Equal(fx.OciIndex.Digest, await Skopeo.PullAsync(airgap.Address, $"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}"));
        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        containerd.MirrorTo("docker.io", airgap.Url);
        await containerd.PullAsync("docker.io/library/small:1");
        Assert.Equal(fx.Small.Digest, await containerd.DigestOfAsync("docker.io/library/small:1"));

        // A corrupted bundle is refused.
        var bytes = await File.ReadAllBytesAsync(bundle);
        bytes[^2000] ^= 0xFF;
        var corrupt = Path.Combine(Net.TempDir("corrupt"), "bad.tar");
        await File.WriteAllBytesAsync(corrupt, bytes);
        var refused = await Cli.RunAsync("import", corrupt, "--create", "--Registry:DataDir=" + Net.TempDir("refuse"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("does not hash", refused.Output);
    }

    [Fact]
    public async Task The_ledger_records_every_image_that_entered_the_cache()
    {
        var dataDir = Net.TempDir("ledger");
        await using var cache = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:Admin:Token=t0ken"]);
        Assert.Equal(fx.DockerBig.Digest, await Skopeo.PullAsync(cache.Address, "big:1"));

        var csv = await Cli.RunAsync("ledger", "--format", "csv", "--Registry:DataDir=" + dataDir);
        Assert.Equal(0, csv.ExitCode);
        var line = csv.Output.Split('\n').Single(l => l.Contains(fx.DockerBig.Digest, StringComparison.Ordinal));
        var cells = line.Split(',');
        Assert.Equal(("docker.io", "library/big", "1", fx.DockerBig.Digest, fx.Upstream.Address), (cells[1], cells[2], cells[3], cells[4], cells[7]));
        Assert.True(long.Parse(cells[6], System.Globalization.CultureInfo.InvariantCulture) > 24 * 1024 * 1024);
        Assert.Contains("REPOSITORY", (await Cli.RunAsync("ledger", "--Registry:DataDir=" + dataDir)).Output);

        using var http = Net.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken");
        var text = await http.GetStringAsync($"{cache.Url}/admin/ledger?format=json");
        Assert.Contains("+json", text); // media types as they are, not \u002B
        using var json = JsonDocument.Parse(text);
        Assert.Contains(json.RootElement.EnumerateArray(), e => e.GetProperty("digest").GetString() == fx.DockerBig.Digest);
    }

    [Fact]
    public async Task The_admin_api_refuses_requests_without_the_token_and_serves_those_with_it()
    {
        await using var off = await CacheServer.StartAsync(fx.Upstream.Url);
        using var http = Net.NewHttpClient();
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"{off.Url}/admin/stats")).StatusCode);

        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Admin:Token=t0ken");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"{cache.Url}/admin/stats")).StatusCode);
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/admin/stats"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "guess");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync($"{cache.Url}/admin/purge?image=small:1", null)).StatusCode);

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken");
        var warm = await http.PostAsJsonAsync($"{cache.Url}/admin/warm", new { images = new[] { "small:1" } });
        Assert.Equal(HttpStatusCode.Accepted, warm.StatusCode);
        var job = warm.Headers.Location!.ToString();
        await Net.WaitUntilAsync(async () => (await http.GetStringAsync(cache.Url + job)).Contains("\"done\"", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "warm job");
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));

        using var stats = JsonDocument.Parse(await http.GetStringAsync($"{cache.Url}/admin/stats"));
        var docker = stats.RootElement.GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("upstream").GetString() == "docker.io");
        Assert.True(docker.GetProperty("hits").GetInt64() > 0);
        Assert.True(docker.GetProperty("bytesFromCache").GetInt64() > 0);
        Assert.True(stats.RootElement.GetProperty("storage").GetProperty("bytes").GetInt64() > 0);
        using var repos = JsonDocument.Parse(await http.GetStringAsync($"{cache.Url}/admin/repositories"));
        Assert.Contains(repos.RootElement.EnumerateArray(), r => r.GetProperty("repository").GetString() == "docker.io/library/small");
    }
}

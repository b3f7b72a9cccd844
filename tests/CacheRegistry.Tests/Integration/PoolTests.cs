using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Strategy=pool: one cold blob from every mirror at once, in front of the real upstream registry.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class PoolTests(UpstreamFixture fx, BackendsFixture backends) : IAsyncLifetime
{
    private readonly List<MirrorFront> _mirrors = [];

    public async Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++) _mirrors.Add(await MirrorFront.StartAsync(fx.Upstream.Url));
    }

    public async Task DisposeAsync()
    {
        foreach (var m in _mirrors) await m.DisposeAsync();
    }

    private Task<CacheServer> PoolCacheAsync(params string[] extra) => CacheServer.StartWithArgsAsync(Net.TempDir("cache"),
    [
        .. _mirrors.Select((m, i) => $"--Registry:Upstreams:docker.io:Endpoints:{i}={m.Url}"),
        "--Registry:Upstreams:docker.io:Strategy=pool", "--Registry:Upstreams:docker.io:Pool:SegmentSize=1MiB", "--Registry:Upstreams:docker.io:Pool:HedgeAfter=1s",
        .. extra,
    ]);

    /// <summary>The big image's largest layer, and its size.</summary>
    private static (string Digest, long Size) BigLayer(TestImage image)
    {
        var blobs = image.AllBlobs.Select(d => (d, new FileInfo(TestImage.BlobPath(image.LayoutDir, d)).Length));
        return blobs.MaxBy(b => b.Length);
    }

    /// <summary>A GET as clients make it: asked again when the transfer is cut.</summary>
    private static async Task<byte[]> PullBlobAsync(HttpClient http, string url)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await http.GetByteArrayAsync(url);
            }
            catch (Exception e) when (attempt < 3 && e is HttpRequestException or IOException)
            {
            }
        }
    }

    [Fact]
    public async Task Every_mirror_sends_part_of_one_cold_blob_and_the_blob_is_right()
    {
        await using var cache = await PoolCacheAsync();
        var (digest, size) = BigLayer(fx.DockerBig);
        using var http = Net.NewHttpClient();
        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/library/big/blobs/{digest}");
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.All(_mirrors, m => Assert.True(m.BlobBytes > 0, $"{m.Url} sent nothing"));
        Assert.InRange(_mirrors.Sum(m => m.BlobBytes), size, size * 11 / 10);
        var before = _mirrors.Sum(m => m.BlobBytes);
        Assert.Equal(bytes, await http.GetByteArrayAsync($"{cache.Url}/v2/library/big/blobs/{digest}")); // from the cache now
        Assert.Equal(before, _mirrors.Sum(m => m.BlobBytes));
    }

    [Fact]
    public async Task A_mirror_sending_wrong_bytes_is_found_quarantined_and_left_out_of_the_next_pull()
    {
        _mirrors[0].Fault = MirrorFault.Corrupt;
        await using var cache = await PoolCacheAsync("--Registry:Upstreams:docker.io:Pool:SegmentSize=64KiB");
        var (digest, _) = BigLayer(fx.DockerBig);
        using var http = Net.NewHttpClient();
        var bytes = await PullBlobAsync(http, $"{cache.Url}/v2/library/big/blobs/{digest}");
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)));

        using var status = JsonDocument.Parse(await http.GetStringAsync($"{cache.Url}/status/upstreams"));
        var endpoints = status.RootElement.GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "docker.io")
            .GetProperty("endpoints").EnumerateArray().ToList();
        Assert.NotEqual(JsonValueKind.Null, endpoints[0].GetProperty("quarantinedUntil").ValueKind);
        Assert.True(endpoints[0].GetProperty("badBytes").GetInt64() > 0);
        Assert.All(endpoints.Skip(1), e => Assert.Equal(JsonValueKind.Null, e.GetProperty("quarantinedUntil").ValueKind));
        var metrics = await http.GetStringAsync($"{cache.Url}/metrics");
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("cacheregistry_endpoint_bad_bytes_total{", StringComparison.Ordinal)
            && l.Contains($"endpoint=\"{new Uri(_mirrors[0].Url).Authority}\"", StringComparison.Ordinal));

        var asked = _mirrors[0].BlobGets;
        var (other, _) = BigLayer(fx.ForDocker);
        var second = await http.GetByteArrayAsync($"{cache.Url}/v2/library/dockerd-img/blobs/{other}");
        Assert.Equal(other, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(second)));
        Assert.Equal(asked, _mirrors[0].BlobGets);
    }

    [Fact]
    public async Task Each_segment_request_carries_only_its_own_endpoint_s_credentials()
    {
        _mirrors[0].RequireBasic = "alice:mirror-secret";
        _mirrors[2].RequireBasic = "hub:registry-secret"; // the origin: the registry's own credentials
        var a = new Uri(_mirrors[0].Url);
        await using var cache = await CacheServer.StartWithArgsAsync(Net.TempDir("cache"),
        [
            $"--Registry:Upstreams:docker.io:Endpoints:0=http://alice:mirror-secret@{a.Authority}",
            $"--Registry:Upstreams:docker.io:Endpoints:1={_mirrors[1].Url}", $"--Registry:Upstreams:docker.io:Endpoints:2={_mirrors[2].Url}",
            "--Registry:Upstreams:docker.io:Username=hub", "--Registry:Upstreams:docker.io:Password=registry-secret",
            "--Registry:Upstreams:docker.io:Strategy=pool", "--Registry:Upstreams:docker.io:Pool:SegmentSize=1MiB",
        ]);
        var (digest, _) = BigLayer(fx.DockerBig);
        using var http = Net.NewHttpClient();
        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/library/big/blobs/{digest}");
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.All(_mirrors, m => Assert.True(m.BlobBytes > 0, $"{m.Url} sent nothing"));
        static string Basic(string pair) => "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(pair));
        Assert.All(_mirrors[0].Authorizations, h => Assert.Equal(Basic("alice:mirror-secret"), h));
        Assert.Empty(_mirrors[1].Authorizations);
        Assert.All(_mirrors[2].Authorizations, h => Assert.Equal(Basic("hub:registry-secret"), h));
        Assert.NotEmpty(_mirrors[0].Authorizations);
        Assert.NotEmpty(_mirrors[2].Authorizations);
    }

    [Fact]
    public async Task When_the_lease_holder_is_killed_mid_pool_the_other_replicas_finish_the_blob_right()
    {
        foreach (var m in _mirrors) m.BytesPerSecond = 400_000; // nine connections: about 3.6 MB/s, several seconds for the layer
        var prefix = $"pool{Guid.NewGuid():N}/";
        var replicas = Enumerable.Range(0, 3).Select(_ =>
        {
            var port = Net.FreePort();
            return new CacheProcess(
            [
                .. _mirrors.Select((m, i) => $"--Registry:Upstreams:docker.io:Endpoints:{i}={m.Url}"),
                "--Registry:Upstreams:docker.io:Strategy=pool", "--Registry:Upstreams:docker.io:Pool:SegmentSize=1MiB",
                "--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + backends.Redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix,
                $"--Registry:Cluster:AdvertiseUrl=http://127.0.0.1:{port}", "--Registry:Cluster:Secret=pool-cluster-secret-0123456789",
                "--Registry:Fill:LeaseTtl=00:00:02", .. backends.S3.Args(prefix),
            ], port: port);
        }).ToList();
        try
        {
            await Task.WhenAll(replicas.Select(r => r.StartAsync()));
            var (digest, size) = BigLayer(fx.DockerBig);
            using var http = Net.NewHttpClient();
            using var doomed = await http.GetAsync($"{replicas[0].Url}/v2/library/big/blobs/{digest}", HttpCompletionOption.ResponseHeadersRead);
            var firstBytes = 0;
            var allHaveBytes = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var clients = Enumerable.Range(0, 4).Select(async i =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{replicas[1 + i % 2].Url}/v2/library/big/blobs/{digest}");
                return await Net.ReadNotingFirstBytesAsync(http, request, () =>
                {
                    if (Interlocked.Increment(ref firstBytes) == 4) allHaveBytes.TrySetResult();
                });
            }).ToList();
            await allHaveBytes.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(_mirrors.Sum(m => m.BlobBytes) < size, "the holder's pool had finished before it was killed");

            await replicas[0].KillAsync();
            foreach (var m in _mirrors) m.BytesPerSecond = 0;
            var results = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));
            Assert.All(results, bytes => Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes))));
            Assert.True(replicas.Skip(1).Any(r => r.Log.Contains("pool sha256:", StringComparison.Ordinal)), "a surviving replica took the pool over");
        }
        finally
        {
            foreach (var r in replicas) await r.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_manifest_is_asked_of_the_next_mirror_when_the_first_does_not_answer_in_time()
    {
        _mirrors[0].HangManifests = true;
        // Without the hedge the first mirror would hold the request for the whole first-byte timeout.
        await using var cache = await PoolCacheAsync("--Registry:Timeouts:FirstByte=00:05:00");
        using var http = Net.NewHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/library/big/manifests/1");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await http.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(fx.DockerBig.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(1, _mirrors[0].ManifestRequests);
        Assert.True(_mirrors[1].ManifestRequests >= 1);
    }

    [Fact]
    public async Task With_measured_order_a_chain_asks_its_fastest_mirror_first_and_the_origin_last()
    {
        _mirrors[0].BytesPerSecond = 250_000;
        await using var cache = await CacheServer.StartWithArgsAsync(Net.TempDir("cache"),
        [
            $"--Registry:Upstreams:docker.io:Endpoints:0={_mirrors[0].Url}", $"--Registry:Upstreams:docker.io:Endpoints:1={_mirrors[1].Url}",
            $"--Registry:Upstreams:docker.io:Endpoints:2={_mirrors[2].Url}", "--Registry:Upstreams:docker.io:Order=measured",
        ]);
        var layers = new[] { fx.ForContainerd, fx.ForDocker }
            .SelectMany(i => i.AllBlobs.Where(d => new FileInfo(TestImage.BlobPath(i.LayoutDir, d)).Length >= 200 * 1024).Select(d => (i.Repository, d))).ToList();
        Assert.True(layers.Count >= 3);
        using var http = Net.NewHttpClient();
        async Task PullAsync(int n) => await http.GetByteArrayAsync($"{cache.Url}/v2/{layers[n].Repository}/blobs/{layers[n].d}");
        await PullAsync(0); // the configured first, measured slow
        await PullAsync(1); // the next mirror, not measured yet, so tried and measured
        var (slow, fast, origin) = (_mirrors[0].BlobGets, _mirrors[1].BlobGets, _mirrors[2].BlobGets);
        Assert.Equal((1, 1, 0), (slow, fast, origin));
        await PullAsync(2);
        Assert.Equal((1, 2, 0), (_mirrors[0].BlobGets, _mirrors[1].BlobGets, _mirrors[2].BlobGets));
    }

    [Fact]
    public async Task A_hanging_and_a_stalling_mirror_do_not_hold_the_pull()
    {
        _mirrors[0].Fault = MirrorFault.Hang;
        _mirrors[1].Fault = MirrorFault.Stall;
        await using var cache = await PoolCacheAsync();
        var (digest, _) = BigLayer(fx.DockerBig);
        using var http = Net.NewHttpClient();
        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/library/big/blobs/{digest}");
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.True(_mirrors[2].BlobBytes > 0);
    }

    [Fact]
    public async Task When_no_mirror_answers_Range_the_chain_fetches_the_blob_whole()
    {
        foreach (var m in _mirrors) m.Fault = MirrorFault.IgnoreRange;
        await using var cache = await PoolCacheAsync();
        var (digest, _) = BigLayer(fx.DockerBig);
        using var http = Net.NewHttpClient();
        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/library/big/blobs/{digest}");
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    [Fact]
    public async Task A_mirror_that_ignores_Range_leaves_the_pool_and_the_others_finish()
    {
        _mirrors[1].Fault = MirrorFault.IgnoreRange;
        await using var cache = await PoolCacheAsync();
        var (digest, _) = BigLayer(fx.DockerBig);
        using var http = Net.NewHttpClient();
        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/library/big/blobs/{digest}");
        Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{cache.Url}/v2/library/big/blobs/{digest}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Strategy=pool: one cold blob from every mirror at once, in front of the real upstream registry.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class PoolTests(UpstreamFixture fx) : IAsyncLifetime
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

using System.Net;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// What clients and sites expect beyond the basic pull: parallel ranges on a cold blob (containerd
/// 2.1), offline mode, remembered "not found", and content that is not an image passing untouched.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ProtocolModeTests(UpstreamFixture fx) : IDisposable
{
    private readonly HttpClient _http = Net.NewHttpClient();

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task A_cold_blob_asked_as_parallel_ranges_is_downloaded_once_and_every_range_is_right()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated; // the download holds at half way until the test opens the gate
        await using var cache = await CacheServer.StartAsync(upstream.Url);
        var layer = upstream.Layer;
        const int parts = 8;
        var part = layer.Length / parts;
        var ranges = Enumerable.Range(0, parts).Select(i => (Start: i * part, End: i == parts - 1 ? layer.Length - 1 : (i + 1) * part - 1)).ToList();
        var path = $"{cache.Url}/v2/library/faulty/blobs/{upstream.LayerDigest}";

        // Every range has its headers while the download is held: all of them joined the one fill.
        var responses = await Task.WhenAll(ranges.Select(r =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(r.Start, r.End);
            return _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        }));
        upstream.Gate.SetResult();
        for (var i = 0; i < parts; i++)
        {
            using var response = responses[i];
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal($"bytes {ranges[i].Start}-{ranges[i].End}/{layer.Length}", response.Content.Headers.ContentRange!.ToString());
            Assert.Equal(layer[ranges[i].Start..(ranges[i].End + 1)], await response.Content.ReadAsByteArrayAsync());
        }
        Assert.Equal(1, upstream.BlobGets);
    }

    public static TheoryData<string> OfflineSwitches => ["--Registry:Offline=true", "--Registry:Upstreams:docker.io:Offline=true"];

    [Theory]
    [MemberData(nameof(OfflineSwitches))]
    public async Task Offline_serves_what_is_cached_answers_misses_clearly_and_sends_nothing_upstream(string offline)
    {
        var dataDir = Net.TempDir("offline");
        string[] args = ["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:TagTtl=00:00:00"];
        var online = await CacheServer.StartWithArgsAsync(dataDir, args);
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(online.Address, "small:1"));
        Assert.Contains("\"1\"", await _http.GetStringAsync($"{online.Url}/v2/small/tags/list"));
        await online.StopAsync(); // stopped, not disposed: disposing deletes the data dir

        await using var cache = await CacheServer.StartWithArgsAsync(dataDir, [.. args, offline]);
        var mark = await fx.Upstream.MarkAsync();
        // Tags are never fresh (TagTtl 0), yet offline they are served as they are, without asking.
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Equal("""{"name":"small","tags":["1"]}""", await _http.GetStringAsync($"{cache.Url}/v2/small/tags/list"));
        using (var miss = await _http.GetAsync($"{cache.Url}/v2/library/big/manifests/1"))
        {
            await ApiTests.AssertErrorAsync(miss, HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
            Assert.Contains("offline", await miss.Content.ReadAsStringAsync());
        }
        using (var blob = await _http.GetAsync($"{cache.Url}/v2/library/big/blobs/{fx.DockerBig.Digest}"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, blob.StatusCode);
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
    }

    [Fact]
    public async Task A_missing_tag_asked_by_many_reaches_the_upstream_once_per_window()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:NegativeTtl=01:00:00");
        var mark = await fx.Upstream.MarkAsync();
        var url = $"{cache.Url}/v2/{ArtifactSet.Repository}/manifests/no-such-tag";
        var blob = $"{cache.Url}/v2/{ArtifactSet.Repository}/blobs/sha256:{new string('d', 64)}";
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => _http.GetAsync(i % 2 == 0 ? url : blob)));
        for (var i = 0; i < 5; i++) answers = [.. answers, await _http.GetAsync(url), await _http.GetAsync(blob)];
        foreach (var answer in answers)
            using (answer)
                await ApiTests.AssertErrorAsync(answer, HttpStatusCode.NotFound, answer.RequestMessage!.RequestUri!.AbsolutePath.Contains("/blobs/") ? "BLOB_UNKNOWN" : "MANIFEST_UNKNOWN");
        var sent = await fx.Upstream.AllRequestsSinceAsync(mark);
        Assert.Single(sent, l => l.Contains("/manifests/no-such-tag", StringComparison.Ordinal));
        Assert.Single(sent, l => l.Contains("/blobs/sha256:ddd", StringComparison.Ordinal));

        // Without the window every ask goes upstream: the count above is the cache's doing.
        await using var forgetful = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:NegativeTtl=00:00:00");
        mark = await fx.Upstream.MarkAsync();
        for (var i = 0; i < 3; i++)
            using (var answer = await _http.GetAsync($"{forgetful.Url}/v2/{ArtifactSet.Repository}/manifests/no-such-tag"))
                Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Equal(3, (await fx.Upstream.AllRequestsSinceAsync(mark)).Count(l => l.Contains("/manifests/no-such-tag", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(ArtifactSet.ChartRepository, "0.1.0")]
    [InlineData(ArtifactSet.ZstdRepository, "1")]
    public async Task Content_that_is_not_a_gzip_image_passes_through_byte_for_byte(string repository, string tag)
    {
        var pushed = repository == ArtifactSet.ChartRepository ? fx.Artifacts.Chart : fx.Artifacts.Zstd;
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/{repository}/manifests/{tag}");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(pushed.Content, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(pushed.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());

        using var manifest = JsonDocument.Parse(pushed.Content);
        var descriptors = manifest.RootElement.GetProperty("layers").EnumerateArray().Append(manifest.RootElement.GetProperty("config"));
        foreach (var d in descriptors)
        {
            var digest = d.GetProperty("digest").GetString()!;
            var bytes = await _http.GetByteArrayAsync($"{cache.Url}/v2/{repository}/blobs/{digest}");
            Assert.Equal((digest, d.GetProperty("size").GetInt64()), (RegistryPush.DigestOf(bytes), bytes.LongLength));
        }
        if (repository == ArtifactSet.ChartRepository)
            Assert.Equal(fx.Artifacts.ChartContent, await _http.GetByteArrayAsync($"{cache.Url}/v2/{repository}/blobs/{RegistryPush.DigestOf(fx.Artifacts.ChartContent)}"));
    }
}

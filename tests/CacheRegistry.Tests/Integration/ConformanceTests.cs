using System.Net;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// The read-only workflow of the OCI distribution-spec v1.1 conformance suite (pull and content
/// discovery), written from the spec's text: cold (nothing cached, every answer a miss) and warm
/// with the upstream gone, refusing or hanging.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ConformanceTests(UpstreamFixture fx) : IDisposable
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string OciIndex = "application/vnd.oci.image.index.v1+json";
    private const string Repo = ArtifactSet.Repository;
    private static readonly string Unknown = "sha256:" + new string('e', 64);
    private readonly HttpClient _http = Net.NewHttpClient();
    private ArtifactSet A => fx.Artifacts;

    public void Dispose() => _http.Dispose();

    public static TheoryData<string> Modes => ["cold", "warm, upstream refusing", "warm, upstream hanging"];

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task The_read_workflow_of_the_conformance_suite_passes(string mode)
    {
        await using var relay = new FaultRelay(fx.Upstream.Port);
        // Tags are never fresh, so the warm run asks the upstream each time and must do without it;
        // "not found" is remembered, so the warm run still knows what does not exist.
        await using var cache = await CacheServer.StartAsync(relay.Url, "--Registry:TagTtl=00:00:00", "--Registry:RevalidateDeadline=00:00:00.300",
            "--Registry:NegativeTtl=01:00:00");
        if (mode != "cold")
        {
            await RunAsync(cache.Url);
            relay.Mode = mode.EndsWith("refusing", StringComparison.Ordinal) ? RelayMode.Refuse : RelayMode.Blackhole;
        }
        await RunAsync(cache.Url);
    }

    private async Task RunAsync(string cache)
    {
        using (var ping = await SendAsync(HttpMethod.Get, cache + "/v2/"))
            Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        await PullManifestsAsync(cache);
        await PullBlobsAsync(cache);
        await ListTagsAsync(cache);
        await ReferrersAsync(cache);
        await CatalogAsync(cache);
    }

    private async Task PullManifestsAsync(string cache)
    {
        foreach (var reference in new[] { ArtifactSet.Tags[0], A.Image.Digest })
        {
            using var head = await SendAsync(HttpMethod.Head, $"{cache}/v2/{Repo}/manifests/{reference}", OciManifest);
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(A.Image.Digest, head.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal(A.Image.Size, head.Content.Headers.ContentLength);
            using var get = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/manifests/{reference}", OciManifest);
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(A.Image.Content, await get.Content.ReadAsByteArrayAsync());
            Assert.Equal(OciManifest, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(A.Image.Digest, get.Headers.GetValues("Docker-Content-Digest").Single());
        }
        foreach (var missing in new[] { "no-such-tag", Unknown })
        {
            using var head = await SendAsync(HttpMethod.Head, $"{cache}/v2/{Repo}/manifests/{missing}", OciManifest);
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
            using var get = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/manifests/{missing}", OciManifest);
            await ApiTests.AssertErrorAsync(get, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        }
        using var malformed = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/manifests/sha256:not-hex", OciManifest);
        Assert.True(malformed.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"malformed digest: {(int)malformed.StatusCode}");
    }

    private async Task PullBlobsAsync(string cache)
    {
        var path = $"{cache}/v2/{Repo}/blobs/{A.LayerDigest}";
        using (var head = await SendAsync(HttpMethod.Head, path))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(A.Layer.Length, head.Content.Headers.ContentLength);
            Assert.Equal(A.LayerDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
        }
        using (var get = await SendAsync(HttpMethod.Get, path))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(A.Layer, await get.Content.ReadAsByteArrayAsync());
        }
        using (var range = await SendAsync(HttpMethod.Get, path, range: "bytes=1000-1999"))
        {
            Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
            Assert.Equal(A.Layer[1000..2000], await range.Content.ReadAsByteArrayAsync());
        }
        using (var head = await SendAsync(HttpMethod.Head, $"{cache}/v2/{Repo}/blobs/{Unknown}"))
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        using (var get = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/blobs/{Unknown}"))
            await ApiTests.AssertErrorAsync(get, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        using (var malformed = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/blobs/sha256:zz"))
            await ApiTests.AssertErrorAsync(malformed, HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    private async Task ListTagsAsync(string cache)
    {
        var all = await TagsAsync($"{cache}/v2/{Repo}/tags/list");
        Assert.Equal(all.Order(StringComparer.Ordinal), all);
        Assert.Superset(ArtifactSet.Tags.ToHashSet(), all.ToHashSet());
        Assert.Contains(A.CosignTag, all);

        // n: at most n tags and a Link to the rest; following the Links walks the whole list once.
        var walked = new List<string>();
        var next = $"/v2/{Repo}/tags/list?n=2";
        while (next is not null)
        {
            using var page = await SendAsync(HttpMethod.Get, cache + next);
            var tags = await ReadTagsAsync(page);
            Assert.InRange(tags.Count, 1, 2);
            walked.AddRange(tags);
            next = page.Headers.TryGetValues("Link", out var link) ? ParseNext(link.Single()) : null;
        }
        Assert.Equal(all, walked);

        Assert.Equal(all.Where(t => string.CompareOrdinal(t, "v3") > 0), await TagsAsync($"{cache}/v2/{Repo}/tags/list?last=v3"));
        Assert.Equal(["v4"], await TagsAsync($"{cache}/v2/{Repo}/tags/list?n=1&last=v3"));
        Assert.Empty(await TagsAsync($"{cache}/v2/{Repo}/tags/list?n=0"));
    }

    private async Task ReferrersAsync(string cache)
    {
        using (var all = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/referrers/{A.Image.Digest}"))
        {
            Assert.Equal(HttpStatusCode.OK, all.StatusCode);
            Assert.Equal(OciIndex, all.Content.Headers.ContentType!.MediaType);
            Assert.False(all.Headers.Contains("OCI-Filters-Applied"));
            var expected = new List<(string, string?)> { (A.Signature.Digest, ArtifactSet.SignatureType), (A.Sbom.Digest, ArtifactSet.SbomType) };
            Assert.Equal(expected.Order(), (await ReferrersOfAsync(all)).Order());
        }
        using (var filtered = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/referrers/{A.Image.Digest}?artifactType={Uri.EscapeDataString(ArtifactSet.SbomType)}"))
        {
            Assert.Equal(HttpStatusCode.OK, filtered.StatusCode);
            Assert.Equal("artifactType", filtered.Headers.GetValues("OCI-Filters-Applied").Single());
            Assert.Equal([(A.Sbom.Digest, ArtifactSet.SbomType)], await ReferrersOfAsync(filtered));
        }
        using (var none = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/referrers/{A.Sbom.Digest}"))
        {
            Assert.Equal(HttpStatusCode.OK, none.StatusCode);
            Assert.Empty(await ReferrersOfAsync(none));
        }
        // The referrers themselves pull by digest, byte for byte.
        foreach (var referrer in new[] { A.Signature, A.Sbom })
        {
            using var get = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/manifests/{referrer.Digest}", OciManifest);
            Assert.Equal(referrer.Content, await get.Content.ReadAsByteArrayAsync());
        }
        using var malformed = await SendAsync(HttpMethod.Get, $"{cache}/v2/{Repo}/referrers/sha256:zz");
        await ApiTests.AssertErrorAsync(malformed, HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    private async Task CatalogAsync(string cache)
    {
        using var response = await SendAsync(HttpMethod.Get, $"{cache}/v2/_catalog");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var repositories = doc.RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()!).ToList();
        Assert.Contains("docker.io/" + Repo, repositories);
        using var first = await SendAsync(HttpMethod.Get, $"{cache}/v2/_catalog?n=1");
        using var firstDoc = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        Assert.Single(firstDoc.RootElement.GetProperty("repositories").EnumerateArray());
        if (repositories.Count > 1) Assert.Contains("rel=\"next\"", first.Headers.GetValues("Link").Single());
    }

    private async Task<List<string>> TagsAsync(string url)
    {
        using var response = await SendAsync(HttpMethod.Get, url);
        return await ReadTagsAsync(response);
    }

    private static async Task<List<string>> ReadTagsAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(Repo, doc.RootElement.GetProperty("name").GetString());
        return doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToList();
    }

    private static async Task<List<(string Digest, string? ArtifactType)>> ReferrersOfAsync(HttpResponseMessage response)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(2, doc.RootElement.GetProperty("schemaVersion").GetInt32());
        return doc.RootElement.GetProperty("manifests").EnumerateArray()
            .Select(m => (m.GetProperty("digest").GetString()!, m.TryGetProperty("artifactType", out var t) ? t.GetString() : null)).ToList();
    }

    private static string ParseNext(string link)
    {
        Assert.EndsWith("rel=\"next\"", link);
        return link[(link.IndexOf('<') + 1)..link.IndexOf('>')];
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, string? accept = null, string? range = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
        if (range is not null) request.Headers.TryAddWithoutValidation("Range", range);
        return _http.SendAsync(request);
    }
}

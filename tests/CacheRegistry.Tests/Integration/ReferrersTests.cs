using System.Net;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Signatures, attestations and SBOMs through the cache: an upstream's own referrers API, schema 1
/// signed manifests, and export/import carrying an image's signatures to an air-gapped site.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ReferrersTests(UpstreamFixture fx) : IDisposable
{
    private readonly HttpClient _http = Net.NewHttpClient();

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task The_upstream_referrers_api_is_answered_once_per_window_filtered_here_and_served_stale_when_it_fails()
    {
        await using var upstream = await ReferrersUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:TagTtl=01:00:00");
        var path = $"{cache.Url}/v2/{ReferrersUpstream.Repository}/referrers/{upstream.Subject}";

        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => ReferrersAsync(path)));
        Assert.All(answers, a => Assert.Equal([upstream.SignatureDigest, upstream.SbomDigest], a));
        Assert.Equal(1, upstream.ReferrersRequests);

        // The upstream ignores the filter; the cache applies it and says so.
        using (var filtered = await _http.GetAsync(path + "?artifactType=" + Uri.EscapeDataString(ReferrersUpstream.SbomType)))
        {
            Assert.Equal("artifactType", filtered.Headers.GetValues("OCI-Filters-Applied").Single());
            Assert.Equal([upstream.SbomDigest], await DigestsAsync(filtered));
        }

        // Past the window with the upstream failing: the last answer, which also outlives a restart.
        upstream.ReferrersStatus = 503;
        await cache.StopAsync();
        await using var stale = await CacheServer.StartWithArgsAsync(cache.DataDir, [.. cache.Args.SkipLast(1), "--Registry:TagTtl=00:00:00"]);
        Assert.Equal([upstream.SignatureDigest, upstream.SbomDigest], await ReferrersAsync($"{stale.Url}/v2/{ReferrersUpstream.Repository}/referrers/{upstream.Subject}"));
    }

    [Fact]
    public async Task A_schema1_signed_manifest_passes_through_byte_for_byte_under_its_payload_digest()
    {
        await using var upstream = await ReferrersUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url);
        foreach (var reference in new[] { "old", upstream.Schema1Digest, upstream.Schema1Digest })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/{ReferrersUpstream.Repository}/manifests/{reference}");
            request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v1+prettyjws");
            using var response = await _http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(upstream.Schema1, await response.Content.ReadAsByteArrayAsync());
            Assert.Equal(upstream.Schema1Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal("application/vnd.docker.distribution.manifest.v1+prettyjws", response.Content.Headers.ContentType!.MediaType);
        }
    }

    [Fact]
    public async Task Export_carries_an_images_signatures_to_an_offline_site_and_the_ledger_names_them()
    {
        var a = fx.Artifacts;
        await using var source = await CacheServer.StartAsync(fx.Upstream.Url);
        var dir = Net.TempDir("sigs");
        var image = $"{ArtifactSet.Repository}:{ArtifactSet.Tags[0]}";
        var bundle = Path.Combine(dir, "with.tar");
        var export = await Cli.RunAsync("export", "--out", bundle, "--server", source.Url, image);
        Assert.True(export.ExitCode == 0, export.Output);
        var bare = Path.Combine(dir, "bare.tar");
        var exportBare = await Cli.RunAsync("export", "--out", bare, "--no-referrers", "--server", source.Url, image);
        Assert.True(exportBare.ExitCode == 0, exportBare.Output);

        var (ledger, withSignatures, cosign) = await ImportAndAskAsync(bundle);
        Assert.Equal(new[] { a.Signature.Digest, a.Sbom.Digest }.Order(), withSignatures.Order());
        Assert.Equal(a.CosignSignature.Content, cosign);
        var (_, without, noCosign) = await ImportAndAskAsync(bare);
        Assert.Empty(without);
        Assert.Null(noCosign);

        // The ledger says which signatures and attestations came with the image.
        var header = ledger.First(l => l.StartsWith("time,", StringComparison.Ordinal)).Split(',');
        foreach (var (referrer, type) in new[] { (a.Signature, ArtifactSet.SignatureType), (a.Sbom, ArtifactSet.SbomType) })
        {
            var row = ledger.Single(l => l.Contains(referrer.Digest, StringComparison.Ordinal)).Split(',');
            Assert.Equal((a.Image.Digest, type), (row[Array.IndexOf(header, "subject")], row[Array.IndexOf(header, "artifact_type")]));
        }
    }

    /// <summary>Imports into a fresh offline cache; returns its ledger (CSV lines), its referrers of the image and its cosign signature (null when it has none).</summary>
    private async Task<(string[] Ledger, List<string> Referrers, byte[]? Cosign)> ImportAndAskAsync(string bundle)
    {
        var a = fx.Artifacts;
        var dataDir = Net.TempDir("sigsite");
        var import = await Cli.RunAsync("import", bundle, "--create", "--Registry:DataDir=" + dataDir);
        Assert.True(import.ExitCode == 0, import.Output);
        await using var site = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:Offline=true"]);
        var referrers = await ReferrersAsync($"{site.Url}/v2/{ArtifactSet.Repository}/referrers/{a.Image.Digest}");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{site.Url}/v2/{ArtifactSet.Repository}/manifests/{a.CosignTag}");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var cosign = await _http.SendAsync(request);
        var ledger = await Cli.RunAsync("ledger", "--format", "csv", "--Registry:DataDir=" + dataDir);
        return (ledger.Output.Split('\n'), referrers, cosign.IsSuccessStatusCode ? await cosign.Content.ReadAsByteArrayAsync() : null);
    }

    private async Task<List<string>> ReferrersAsync(string url)
    {
        using var response = await _http.GetAsync(url);
        return await DigestsAsync(response);
    }

    private static async Task<List<string>> DigestsAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("manifests").EnumerateArray().Select(m => m.GetProperty("digest").GetString()!).ToList();
    }
}

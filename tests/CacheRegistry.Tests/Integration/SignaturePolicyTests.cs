using System.Net;
using System.Text.Json;
using CacheRegistry.Storage;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Registry:Policies on real clients and a real distribution registry holding cosign signatures:
/// signed images pass, everything else is denied with its reason, decisions are kept, counted and
/// carried to an offline site.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class SignaturePolicyTests(UpstreamFixture fx)
{
    private readonly HttpClient _http = Net.NewHttpClient();

    private Task<SignedImages> SignedAsync() => SignedImages.GetAsync(fx.Upstream);

    [Fact]
    public async Task Signed_images_pull_with_skopeo_containerd_and_dockerd_and_an_unsigned_one_is_denied()
    {
        var s = await SignedAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, s.Policy());
        // Every platform of the signed index: the children are admitted by the index's signature.
        Assert.Equal(s.App.Digest, await Skopeo.PullAsync(cache.Address, $"{s.App.Repository}:1"));

        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        // The origin on a dead port: only the cache can answer.
        var hosts = Path.Combine(containerd.HostsDir, "docker.io");
        Directory.CreateDirectory(hosts);
        await File.WriteAllTextAsync(Path.Combine(hosts, "hosts.toml"), $"""
            server = "http://127.0.0.1:{Net.FreePort()}"

            [host."{cache.Url}"]
              capabilities = ["pull", "resolve"]
            """);
        await containerd.PullAsync($"docker.io/{s.App.Repository}:1");
        Assert.Equal(s.App.Digest, await containerd.DigestOfAsync($"docker.io/{s.App.Repository}:1"));
        var denied = await Assert.ThrowsAnyAsync<Exception>(() => containerd.PullAsync($"docker.io/{s.Wrong["unsigned"].Image.Repository}:1"));
        Assert.Contains("[manifests 1]: 403 Forbidden", denied.Message); // refused at the manifest, before any blob

        await using var docker = new DockerDaemon();
        await docker.StartAsync(containerd.Socket, cache.Url);
        await docker.DockerAsync("pull", $"{s.DockerApp.Repository}:1");
        Assert.Equal(s.DockerApp.Digest, await docker.RepoDigestAsync($"{s.DockerApp.Repository}:1"));
    }

    [Fact]
    public async Task A_cosign_3_bundle_signature_admits_its_image_and_an_attestation_beside_it_does_not_count()
    {
        var s = await SignedAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, s.Policy());
        Assert.Equal(s.BundleApp.Digest, await Skopeo.PullAsync(cache.Address, $"{s.BundleApp.Repository}:1"));
        var ledger = await cache.Service<ILedger>().ReadAsync(null, 1000, default);
        var decision = Assert.Single(ledger, e => e.Check is not null && e.Digest.ToString() == s.BundleApp.Digest);
        Assert.Equal(("team", "verified", VerificationKeyFingerprint(s)), (decision.Check!.Policy, decision.Check.Result, decision.Check.Key));
        // What cosign verify reads through the cache: the referrers (here the fallback tag's index).
        var (status, _, _) = await GetAsync($"{cache.Url}/v2/{s.BundleApp.Repository}/referrers/{s.BundleApp.Digest}");
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task Each_wrong_signature_is_denied_with_its_reason_and_outside_repositories_are_untouched()
    {
        var s = await SignedAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, s.Policy());
        foreach (var (name, (image, reason)) in s.Wrong)
        {
            foreach (var reference in new[] { "1", image.Digest })
            {
                var (status, code, message) = await GetAsync($"{cache.Url}/v2/{image.Repository}/manifests/{reference}");
                Assert.True(status == HttpStatusCode.Forbidden, $"{name} {reference}: {status} {message}");
                Assert.Equal("DENIED", code);
                Assert.Contains("signature policy 'team'", message);
                Assert.Contains(reason, message);
            }
            // Nothing of the image is served: not its blobs either.
            var layer = image.Platforms["linux/amd64"].Blobs[^1];
            var blob = await GetAsync($"{cache.Url}/v2/{image.Repository}/blobs/{layer}");
            Assert.Equal((HttpStatusCode.Forbidden, "DENIED"), (blob.Status, blob.Code));
        }

        // The signed image, its children by digest and their blobs; its signature (what cosign verify reads).
        var (appChild, appBlobs) = s.App.Platforms["linux/arm64"];
        Assert.Equal(HttpStatusCode.OK, (await GetAsync($"{cache.Url}/v2/{s.App.Repository}/manifests/1")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync($"{cache.Url}/v2/{s.App.Repository}/manifests/{appChild}")).Status);
        foreach (var b in appBlobs) Assert.Equal(HttpStatusCode.OK, (await GetAsync($"{cache.Url}/v2/{s.App.Repository}/blobs/{b}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync($"{cache.Url}/v2/{s.App.Repository}/manifests/{CosignSigner.TagFor(s.App.Digest)}")).Status);
        // A repository no policy names is served as before.
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));

        var metrics = await Exposition.ScrapeAsync(cache.Url);
        Assert.Equal(1, metrics.Sum("cacheregistry_signature_verifications_total", ("result", "verified"), ("policy", "team")));
        Assert.Equal(1, metrics.Sum("cacheregistry_signature_verifications_total", ("result", "unsigned")));
        Assert.Equal(s.Wrong.Count - 1, metrics.Sum("cacheregistry_signature_verifications_total", ("result", "invalid")));
    }

    [Fact]
    public async Task Warn_mode_serves_what_does_not_verify_and_the_ledger_and_metrics_say_so()
    {
        var s = await SignedAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, s.Policy("warn"));
        var unsigned = s.Wrong["unsigned"].Image;
        Assert.Equal(unsigned.Digest, await Skopeo.PullAsync(cache.Address, $"{unsigned.Repository}:1"));
        Assert.Equal(s.App.Digest, await Skopeo.PullAsync(cache.Address, $"{s.App.Repository}:1"));

        var ledger = await cache.Service<ILedger>().ReadAsync(null, 1000, default);
        var decisions = ledger.Where(e => e.Check is not null).ToList();
        var verified = Assert.Single(decisions, e => e.Digest.ToString() == s.App.Digest);
        Assert.Equal(("team", "verified"), (verified.Check!.Policy, verified.Check.Result));
        Assert.Equal(VerificationKeyFingerprint(s), verified.Check.Key);
        Assert.Equal("1", verified.Tag);
        var warned = Assert.Single(decisions, e => e.Digest.ToString() == unsigned.Digest);
        Assert.Equal(("team", "unsigned", (string?)null), (warned.Check!.Policy, warned.Check.Result, warned.Check.Key));
        var metrics = await Exposition.ScrapeAsync(cache.Url);
        Assert.Equal(1, metrics.Sum("cacheregistry_signature_verifications_total", ("result", "unsigned")));
    }

    [Fact]
    public async Task An_exported_signed_image_is_enforced_offline_and_decisions_outlive_a_restart()
    {
        var s = await SignedAsync();
        var dir = Net.TempDir("sigexport");
        await using (var source = await CacheServer.StartAsync(fx.Upstream.Url, s.Policy()))
        {
            var signed = Path.Combine(dir, "signed.tar");
            var export = await Cli.RunAsync("export", "--out", signed, "--server", source.Url, $"{s.App.Repository}:1", $"{s.BundleApp.Repository}:1");
            Assert.True(export.ExitCode == 0, export.Output);
            var refused = await Cli.RunAsync("export", "--out", Path.Combine(dir, "refused.tar"), "--server", source.Url, $"{s.Wrong["unsigned"].Image.Repository}:1");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("DENIED", refused.Output);
        }
        // An unsigned image reaches the site by a bundle made without the policy: the site still refuses it.
        var unsigned = Path.Combine(dir, "unsigned.tar");
        await using (var open = await CacheServer.StartAsync(fx.Upstream.Url))
        {
            var export = await Cli.RunAsync("export", "--out", unsigned, "--server", open.Url, $"{s.Wrong["unsigned"].Image.Repository}:1");
            Assert.True(export.ExitCode == 0, export.Output);
        }

        var site = Net.TempDir("sigsite");
        foreach (var bundle in new[] { Path.Combine(dir, "signed.tar"), unsigned })
        {
            var import = await Cli.RunAsync("import", bundle, "--create", "--Registry:DataDir=" + site);
            Assert.True(import.ExitCode == 0, import.Output);
        }
        string[] offline = ["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:Offline=true", .. s.Policy()];
        var mark = await fx.Upstream.MarkAsync();
        await using var cache = await CacheServer.StartWithArgsAsync(site, offline);
        Assert.Equal(s.App.Digest, await Skopeo.PullAsync(cache.Address, $"{s.App.Repository}:1"));
        Assert.Equal(s.BundleApp.Digest, await Skopeo.PullAsync(cache.Address, $"{s.BundleApp.Repository}:1")); // its bundle came as a referrer
        var denied = await GetAsync($"{cache.Url}/v2/{s.Wrong["unsigned"].Image.Repository}/manifests/1");
        Assert.Equal((HttpStatusCode.Forbidden, "DENIED"), (denied.Status, denied.Code));

        // After a restart the decision is read back, not made again.
        await cache.RestartAsync();
        Assert.Equal(s.App.Digest, await Skopeo.PullAsync(cache.Address, $"{s.App.Repository}:1"));
        var ledger = await cache.Service<ILedger>().ReadAsync(null, 1000, default);
        Assert.Single(ledger, e => e.Check is { Result: "verified" } && e.Digest.ToString() == s.App.Digest);
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
    }

    private static string VerificationKeyFingerprint(SignedImages s)
    {
        using var key = CacheRegistry.Signing.VerificationKey.Load(s.KeyPath);
        return key.Fingerprint;
    }

    private async Task<(HttpStatusCode Status, string? Code, string Message)> GetAsync(string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.index.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        using var response = await _http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (response.IsSuccessStatusCode) return (response.StatusCode, null, "");
        using var json = JsonDocument.Parse(body);
        var error = json.RootElement.GetProperty("errors")[0];
        return (response.StatusCode, error.GetProperty("code").GetString(), error.GetProperty("message").GetString()!);
    }
}

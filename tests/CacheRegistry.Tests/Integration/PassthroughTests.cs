using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// ClientCredentials=Passthrough against a real distribution registry with htpasswd auth: each
/// client's own credentials reach the upstream, cached bytes are shared only with clients whose
/// credentials the upstream accepts for that repository, and nothing of them is kept.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class PassthroughTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Private_content_is_served_from_the_cache_only_to_clients_the_upstream_accepts()
    {
        var users = await HtpasswdFile.CreateAsync(("alice", "alice-pw"), ("carol", "carol-pw"), ("pusher", "pusher-pw"));
        await using var upstream = new UpstreamRegistry { ExtraConfig = _ => $"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {users}\n" };
        await upstream.StartAsync();
        var image = TestImage.Build("private/app", "1", ImageFormat.Oci, ["linux/amd64"], [256 * 1024], Net.TempDir("private-app"));
        await image.PushAsync(upstream.Address, "pusher:pusher-pw");
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Upstreams:docker.io:ClientCredentials=Passthrough");
        using var http = Net.NewHttpClient();
        var manifestUrl = $"{cache.Url}/v2/private/app/manifests/1";

        // Anonymous: the upstream's 401 becomes this cache's Basic challenge, so clients log in here.
        using (var anonymous = await http.GetAsync(manifestUrl))
        {
            await ApiTests.AssertErrorAsync(anonymous, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Equal("Basic realm=\"cacheregistry\"", anonymous.Headers.WwwAuthenticate.ToString());
        }

        // alice pulls with her credentials: the bytes come from the upstream once.
        var mark = await upstream.MarkAsync();
        Assert.Equal(image.Digest, await PullAsync(cache, image, "alice:alice-pw"));
        Assert.Equal(image.AllBlobs.Count(), await upstream.BlobGetsSinceAsync(mark, image.Repository));

        // Wrong credentials and no credentials get nothing, though every byte is cached.
        var layer = image.AllBlobs.First();
        foreach (var auth in new[] { Net.Basic("bob", "guess"), Net.Basic("alice", "wrong"), null })
        {
            foreach (var url in new[] { manifestUrl, $"{cache.Url}/v2/private/app/blobs/{layer}" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = auth } };
                using var refused = await http.SendAsync(request);
                Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            }
        }

        // The catalog names a passthrough repository only to a client the upstream let into it.
        foreach (var (auth, listed) in new[] { ((AuthenticationHeaderValue?)null, false), (Net.Basic("bob", "guess"), false), (Net.Basic("alice", "alice-pw"), true) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, cache.Url + "/v2/_catalog") { Headers = { Authorization = auth } };
            using var catalog = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, catalog.StatusCode);
            Assert.Equal(listed, (await catalog.Content.ReadAsStringAsync()).Contains("private/app", StringComparison.Ordinal));
        }

        // carol's credentials are checked upstream with a HEAD; the bytes come from the cache.
        mark = await upstream.MarkAsync();
        Assert.Equal(image.Digest, await PullAsync(cache, image, "carol:carol-pw"));
        Assert.Equal(0, await upstream.BlobGetsSinceAsync(mark, image.Repository));
        Assert.NotEmpty(await upstream.RequestsSinceAsync(mark, "HEAD", "/v2/private/app/"));

        // containerd with the node's credentials for the cache (what an imagePullSecret becomes).
        await using (var containerd = new ContainerdDaemon())
        {
            await containerd.StartAsync();
            var reference = $"{cache.Address}/{image.Repository}:{image.Tag}";
            await Assert.ThrowsAnyAsync<Exception>(() => containerd.CtrAsync("images", "pull", "--plain-http", "--snapshotter", "native", reference));
            await containerd.CtrAsync("images", "pull", "--plain-http", "--user", "carol:carol-pw", "--snapshotter", "native", reference);
            Assert.Equal(image.Digest, await containerd.DigestOfAsync(reference));
        }

        // Credentials are passed on, never kept: not in the data dir, not in the log.
        foreach (var file in Directory.EnumerateFiles(cache.DataDir, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            foreach (var secret in new[] { "alice-pw", "carol-pw", Convert.ToBase64String(Encoding.UTF8.GetBytes("carol:carol-pw")) })
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0, $"{secret} in {file}");
        }
    }

    [Fact]
    public async Task A_missing_tag_is_a_404_for_that_tag_alone_with_the_code_of_what_was_asked()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Upstreams:docker.io:ClientCredentials=Passthrough");
        using var http = Net.NewHttpClient();
        var repository = fx.Small.Repository;
        using (var missing = await http.GetAsync($"{cache.Url}/v2/{repository}/manifests/no-such-tag"))
            await ApiTests.AssertErrorAsync(missing, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        // Every anonymous client still gets the repository's other tags and blobs.
        using (var present = await http.GetAsync($"{cache.Url}/v2/{repository}/manifests/{fx.Small.Tag}"))
            Assert.Equal(HttpStatusCode.OK, present.StatusCode);
        var layer = fx.Small.AllBlobs.First();
        Assert.Equal(layer, RegistryPush.DigestOf(await http.GetByteArrayAsync($"{cache.Url}/v2/{repository}/blobs/{layer}")));
        using (var noBlob = await http.GetAsync($"{cache.Url}/v2/{repository}/blobs/sha256:{new string('0', 64)}"))
            await ApiTests.AssertErrorAsync(noBlob, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        // The 404 is remembered for that tag: asked again, it is answered without the upstream.
        var mark = await fx.Upstream.MarkAsync();
        using (var again = await http.GetAsync($"{cache.Url}/v2/{repository}/manifests/no-such-tag"))
            await ApiTests.AssertErrorAsync(again, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        Assert.DoesNotContain(await fx.Upstream.AllRequestsSinceAsync(mark), l => l.Contains("no-such-tag", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Content_the_upstream_serves_anonymously_is_shared_as_before()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Upstreams:docker.io:ClientCredentials=Passthrough");
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, fx.Small.Repository));
    }

    private static async Task<string> PullAsync(CacheServer cache, TestImage image, string credentials)
    {
        var dir = Net.TempDir("passthrough-pull");
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("skopeo"),
            ["copy", "--quiet", "--src-tls-verify=false", "--src-creds", credentials, $"docker://{cache.Address}/{image.Repository}:{image.Tag}", $"dir:{dir}"]);
        return "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(dir, "manifest.json"))));
    }
}

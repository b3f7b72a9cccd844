using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>A registry behind a real bearer-token service: anonymous tokens, credentials, refusals.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class TokenAuthTests
{
    [Fact]
    public async Task Pulls_through_a_token_authenticated_upstream_anonymously_and_with_credentials()
    {
        await using var issuer = await TokenIssuer.StartAsync();
        await using var upstream = new UpstreamRegistry { ExtraConfig = issuer.RegistryConfig };
        await upstream.StartAsync();
        var open = TestImage.Build("public/app", "1", ImageFormat.Oci, ["linux/amd64"], [64 * 1024], Net.TempDir("public"));
        var closed = TestImage.Build("private/app", "1", ImageFormat.Docker, ["linux/amd64"], [64 * 1024], Net.TempDir("private"));
        await open.PushAsync(upstream.Address, "pusher:pusher-secret");
        await closed.PushAsync(upstream.Address, "pusher:pusher-secret");

        // Anonymous: the cache follows the 401 challenge to the realm with service and scope.
        await using (var anonymous = await CacheServer.StartAsync(upstream.Url))
        {
            var before = issuer.Issued;
            Assert.Equal(open.Digest, await Skopeo.PullAsync(anonymous.Address, "public/app:1"));
            Assert.Equal(1, issuer.Issued - before); // one token, cached for every later request of the scope

            using var http = Net.NewHttpClient();
            using var refused = await http.GetAsync($"{anonymous.Url}/v2/private/app/manifests/1");
            await ApiTests.AssertErrorAsync(refused, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Contains("configure credentials", await refused.Content.ReadAsStringAsync());
        }

        // With credentials for the upstream, private repositories come through too.
        await using var withCredentials = await CacheServer.StartAsync(upstream.Url,
            "--Registry:Upstreams:docker.io:Username=reader", "--Registry:Upstreams:docker.io:Password=reader-secret");
        Assert.Equal(closed.Digest, await Skopeo.PullAsync(withCredentials.Address, "private/app:1"));

        // Per-endpoint credentials ride in the endpoint URL.
        await using var perEndpoint = await CacheServer.StartAsync($"http://reader:reader-secret@{upstream.Address}");
        Assert.Equal(closed.Digest, await Skopeo.PullAsync(perEndpoint.Address, "private/app:1"));
    }
}

using System.Net;
using System.Text;
using CacheRegistry.Upstream;

namespace CacheRegistry.Tests.Unit;

/// <summary>The token flow, credentials never following redirects to other hosts, endpoint fall-over.</summary>
public sealed class UpstreamClientTests
{
    private readonly ManualTime _time = new(DateTimeOffset.UtcNow);

    private static HttpResponseMessage Challenge() => new(HttpStatusCode.Unauthorized)
    {
        Headers = { { "WWW-Authenticate", "Bearer realm=\"https://auth.test/token\",service=\"registry.test\",scope=\"repository:library/x:pull\"" } },
    };

    [Fact]
    public async Task Bearer_tokens_are_fetched_cached_and_not_sent_to_redirect_targets()
    {
        var tokenFetches = 0;
        var handler = new StubHandler(request =>
        {
            var url = request.RequestUri!;
            if (url.Host == "auth.test")
            {
                tokenFetches++;
                Assert.Contains("scope=repository%3Alibrary%2Fx%3Apull", url.Query);
                Assert.Contains("service=registry.test", url.Query);
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("""{"token":"T1","expires_in":300}""") };
            }
            if (url.Host == "cdn.test")
            {
                Assert.Null(request.Headers.Authorization);
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Encoding.ASCII.GetBytes("blob")) };
            }
            if (request.Headers.Authorization?.ToString() != "Bearer T1") return Challenge();
            return new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Headers = { Location = new Uri("https://cdn.test/signed?x=1") } };
        });
        var repo = Stub.Repo(handler, _time);

        for (var i = 0; i < 3; i++)
        {
            using var r = await repo.Upstream.GetBlobAsync("library/x", Oci.Digest.Parse("sha256:" + new string('a', 64)), 0, default);
            Assert.Equal("blob", await r.Message.Content.ReadAsStringAsync());
        }
        Assert.Equal(1, tokenFetches);
        // Only the first request met the challenge; later ones carried the cached token at once.
        Assert.Equal(3 + 1 + 1 + 3, handler.Requests.Count);
        Assert.All(handler.Requests.Where(r => r.Url.StartsWith("https://cdn.test", StringComparison.Ordinal)), r => Assert.Null(r.Authorization));

        _time.Now += TimeSpan.FromMinutes(10); // token expired: fetched again
        using (await repo.Upstream.GetBlobAsync("library/x", Oci.Digest.Parse("sha256:" + new string('a', 64)), 0, default)) { }
        Assert.Equal(2, tokenFetches);
    }

    [Fact]
    public async Task Basic_credentials_answer_a_basic_challenge()
    {
        var handler = new StubHandler(request => request.Headers.Authorization?.Scheme == "Basic"
            ? new HttpResponseMessage(HttpStatusCode.OK)
            : new HttpResponseMessage(HttpStatusCode.Unauthorized) { Headers = { { "WWW-Authenticate", "Basic realm=\"r\"" } } });
        var repo = Stub.Repo(handler, _time, options: new UpstreamOptions { Endpoints = ["https://registry.test"], Username = "u", Password = "p" });
        using var r = await repo.Upstream.HeadManifestAsync("library/x", "v1", default);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("u:p")), handler.Requests[^1].Authorization);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    public async Task Failing_endpoints_fall_over_to_the_next(HttpStatusCode failure)
    {
        var handler = new StubHandler(request => request.RequestUri!.Host == "first.test"
            ? new HttpResponseMessage(failure) : new HttpResponseMessage(HttpStatusCode.OK));
        var repo = Stub.Repo(handler, _time, options: new UpstreamOptions { Endpoints = ["https://first.test", "https://second.test"] });
        using var r = await repo.Upstream.HeadManifestAsync("library/x", "v1", default);
        Assert.Equal("second.test", r.Endpoint.Host);
    }

    [Fact]
    public async Task Errors_name_the_upstream_and_endpoint()
    {
        var handler = new StubHandler(_ => throw new HttpRequestException("Connection refused"));
        var repo = Stub.Repo(handler, _time);
        var e = await Assert.ThrowsAsync<UpstreamException>(() => repo.Upstream.GetManifestAsync("library/x", "v1", default));
        Assert.Equal(UpstreamFailure.Unavailable, e.Failure);
        Assert.Contains("docker.io", e.Message);
        Assert.Contains("registry.test", e.Message);
        Assert.Contains("Connection refused", e.Message);
        Assert.Equal(503, e.ToRegistryError().Status);
    }
}

using System.Net;
using System.Text;
using CacheRegistry.Routing;
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

/// <summary>Credentials stay with the origin they were configured for; redirects and realms go only where they may.</summary>
public sealed class UpstreamTrustTests
{
    private readonly ManualTime _time = new(DateTimeOffset.UtcNow);
    private static readonly Oci.Digest Blob = Oci.Digest.Parse("sha256:" + new string('b', 64));
    private static readonly string Alice = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:hunter2"));

    private static HttpResponseMessage Redirect(string to) => new(HttpStatusCode.TemporaryRedirect) { Headers = { Location = new Uri(to) } };
    private static HttpResponseMessage Basic401() => new(HttpStatusCode.Unauthorized) { Headers = { { "WWW-Authenticate", "Basic realm=\"r\"" } } };
    private static HttpResponseMessage Bearer401(string realm) => new(HttpStatusCode.Unauthorized) { Headers = { { "WWW-Authenticate", $"Bearer realm=\"{realm}\",service=\"s\"" } } };
    private static HttpResponseMessage Token(string token) => new(HttpStatusCode.OK) { Content = new StringContent($$"""{"token":"{{token}}"}""") };
    private static HttpResponseMessage Ok() => new(HttpStatusCode.OK) { Content = new ByteArrayContent([1]) };

    private RepositoryRef Repo(StubHandler handler, params string[] endpoints) =>
        Stub.Repo(handler, _time, options: new UpstreamOptions { Endpoints = [.. endpoints], Username = "alice", Password = "hunter2" });

    [Fact]
    public async Task A_redirect_target_asking_for_basic_auth_gets_no_credentials()
    {
        var handler = new StubHandler(r => r.RequestUri!.Host switch
        {
            "registry.test" => r.Headers.Authorization is null ? Basic401() : Redirect("http://cdn.test/blob"),
            _ => Basic401(),
        });
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Repo(handler, "https://registry.test").Upstream.GetBlobAsync("library/x", Blob, 0, default));
        Assert.Equal(UpstreamFailure.Unauthorized, e.Failure);
        Assert.Contains(handler.Requests, r => r.Url.StartsWith("https://registry.test", StringComparison.Ordinal) && r.Authorization == Alice);
        Assert.All(handler.Requests.Where(r => r.Url.StartsWith("http://cdn.test", StringComparison.Ordinal)), r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task A_redirect_target_with_a_bearer_challenge_gets_an_anonymous_token_of_its_own()
    {
        var handler = new StubHandler(r => (r.RequestUri!.Host, r.Headers.Authorization?.ToString()) switch
        {
            ("registry.test", null) => Basic401(),
            ("registry.test", _) => Redirect("https://cdn.test/blob"),
            ("cdn.test", "Bearer cdn-token") => Ok(),
            ("cdn.test", _) => Bearer401("https://cdn-auth.test/token"),
            ("cdn-auth.test", _) => Token("cdn-token"),
            _ => new HttpResponseMessage(HttpStatusCode.NotFound),
        });
        using var response = await Repo(handler, "https://registry.test").Upstream.GetBlobAsync("library/x", Blob, 0, default);
        Assert.Null(handler.Requests.Single(r => r.Url.StartsWith("https://cdn-auth.test", StringComparison.Ordinal)).Authorization);
        Assert.DoesNotContain(handler.Requests, r => !r.Url.StartsWith("https://registry.test", StringComparison.Ordinal) && r.Authorization == Alice);
    }

    [Fact]
    public async Task A_mirror_placed_before_the_origin_never_sees_the_registry_credentials()
    {
        var handler = new StubHandler(r => r.RequestUri!.Host == "mirror.test" ? Basic401()
            : r.Headers.Authorization?.ToString() == Alice ? Ok() : Basic401());
        using var response = await Repo(handler, "https://mirror.test", "https://registry.test").Upstream.HeadManifestAsync("library/x", "1", default);
        Assert.Equal("registry.test", response.Endpoint.Host);
        Assert.All(handler.Requests.Where(r => r.Url.Contains("mirror.test", StringComparison.Ordinal)), r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task Credentials_in_a_mirror_url_go_to_that_mirror_only()
    {
        var bob = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:pw"));
        var handler = new StubHandler(r => r.Headers.Authorization is null ? Basic401() : Ok());
        using var response = await Repo(handler, "https://bob:pw@mirror.test", "https://registry.test").Upstream.HeadManifestAsync("library/x", "1", default);
        Assert.Equal(bob, handler.Requests.Last(r => r.Url.Contains("mirror.test", StringComparison.Ordinal)).Authorization);
        Assert.DoesNotContain(handler.Requests, r => r.Url.Contains("registry.test", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://auth.elsewhere.test/token", false)] // plain http to another host: anonymous
    [InlineData("https://auth.elsewhere.test/token", true)]
    [InlineData("http://registry.test/token", true)] // the endpoint's own host
    public async Task A_token_realm_gets_credentials_only_over_https_or_on_the_endpoints_own_host(string realm, bool withCredentials)
    {
        var handler = new StubHandler(r => r.RequestUri!.AbsolutePath == "/token" ? Token("t")
            : r.Headers.Authorization?.ToString() == "Bearer t" ? Ok() : Bearer401(realm));
        using var response = await Repo(handler, "http://registry.test").Upstream.HeadManifestAsync("library/x", "1", default);
        var tokenRequest = handler.Requests.Single(r => r.Url.Contains("/token", StringComparison.Ordinal));
        Assert.Equal(withCredentials ? Alice : null, tokenRequest.Authorization);
    }

    [Theory]
    [InlineData("file:///etc/passwd", "only http and https")]
    [InlineData("http://metadata.test/latest/meta-data", "link-local")]
    [InlineData("http://10.0.0.5:8080/internal", "private")]
    [InlineData("http://127.0.0.1:6379/", "loopback")]
    [InlineData("http://app.internal.test/x", "private")]
    public async Task Redirects_into_other_schemes_or_internal_addresses_are_refused(string target, string why)
    {
        var handler = new StubHandler(r => r.RequestUri!.Host == "registry.test" ? Redirect(target) : Ok());
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Repo(handler, "https://registry.test").Upstream.GetManifestAsync("library/x", "1", default));
        Assert.Contains("refused", e.Message);
        Assert.Contains(why, e.Message);
        Assert.Single(handler.Requests); // the target was never asked
    }

    [Fact]
    public async Task An_internal_endpoint_may_redirect_within_its_network_and_an_allow_list_opens_more()
    {
        var handler = new StubHandler(r => r.RequestUri!.Host is "registry.internal.test" or "harbor.internal.test" ? Redirect("http://blobs.internal.test/b")
            : r.RequestUri!.Host == "registry.test" ? Redirect("http://minio.internal.test/b") : Ok());
        using (await Repo(handler, "https://registry.internal.test").Upstream.GetBlobAsync("library/x", Blob, 0, default)) { }
        var allowed = Stub.Repo(handler, _time, options: new UpstreamOptions { Endpoints = ["https://registry.test"], AllowRedirectsTo = ["*.internal.test"] });
        using (await allowed.Upstream.GetBlobAsync("library/x", Blob, 0, default)) { }
        Assert.Contains(handler.Requests, r => r.Url.StartsWith("http://minio.internal.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task More_than_five_redirects_are_refused()
    {
        var hops = 0;
        var handler = new StubHandler(_ => Redirect($"https://hop{++hops}.test/x"));
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Repo(handler, "https://registry.test").Upstream.GetBlobAsync("library/x", Blob, 0, default));
        Assert.Contains("more than 5 times", e.Message);
        Assert.Equal(6, handler.Requests.Count);
    }

    [Fact]
    public async Task A_pre_issued_token_goes_to_the_origin_only()
    {
        var handler = new StubHandler(r => r.RequestUri!.Host == "registry.test"
            ? (r.Headers.Authorization is null ? Bearer401("https://auth.test/token") : Redirect("https://cdn.test/b"))
            : r.Headers.Authorization is null ? Bearer401("https://auth.test/token") : Ok());
        var repo = Stub.Repo(handler, _time, options: new UpstreamOptions { Endpoints = ["https://registry.test"], Token = "secret" });
        await Assert.ThrowsAnyAsync<UpstreamException>(() => repo.Upstream.GetBlobAsync("library/x", Blob, 0, default));
        Assert.Contains(handler.Requests, r => r.Url.StartsWith("https://registry.test", StringComparison.Ordinal) && r.Authorization == "Bearer secret");
        Assert.DoesNotContain(handler.Requests, r => !r.Url.StartsWith("https://registry.test", StringComparison.Ordinal) && r.Authorization == "Bearer secret");
    }

    [Fact]
    public async Task An_endless_token_answer_is_cut_at_64_KiB()
    {
        var handler = new StubHandler(r => r.RequestUri!.Host == "auth.test"
            ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new EndlessStream()) }
            : Bearer401("https://auth.test/token"));
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Repo(handler, "https://registry.test").Upstream.HeadManifestAsync("library/x", "1", default));
        Assert.Contains("more than 65536 bytes", e.Message);
    }

    [Theory]
    [InlineData("Bearer realm=\"::not a url\"")]
    [InlineData("Bearer service=\"s\"")]
    public async Task A_challenge_with_a_malformed_realm_is_a_clean_error(string challenge)
    {
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.Unauthorized) { Headers = { { "WWW-Authenticate", challenge } } });
        var e = await Assert.ThrowsAsync<UpstreamException>(() => Repo(handler, "https://registry.test").Upstream.HeadManifestAsync("library/x", "1", default));
        Assert.Contains("realm", e.Message);
    }

    /// <summary>Bytes for ever, as a hostile token service sends them.</summary>
    private sealed class EndlessStream : Common.ReadOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            buffer.Span.Fill((byte)'a');
            return ValueTask.FromResult(buffer.Length);
        }
    }
}

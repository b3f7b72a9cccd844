using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The admin API checks the token before it reads anything, bounds what it reads, and answers bad input in one error format.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class AdminApiTests(UpstreamFixture fx)
{
    private static HttpRequestMessage Post(string url, HttpContent? body = null, string? authorization = "Bearer t0ken-of-the-admin")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = body };
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    [Fact]
    public async Task A_large_body_without_the_token_is_refused_unread_and_with_it_is_refused_past_64_KiB()
    {
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, "--Registry:Admin:Token=t0ken-of-the-admin"]);
        await cache.StartAsync();
        using var http = Net.NewHttpClient();
        var big = new string('x', 10 * 1024 * 1024);
        using (var warmup = await http.SendAsync(Post($"{cache.Url}/admin/warm", new StringContent("{}", Encoding.UTF8, "application/json")))) { }
        var before = cache.ResidentBytes();
        for (var i = 0; i < 5; i++)
        {
            // With Expect: 100-continue the client waits for the server before sending: a server
            // that refuses unread answers at once.
            using var request = Post($"{cache.Url}/admin/warm", new StringContent($"{{\"images\":[\"{big}\"]}}", Encoding.UTF8, "application/json"), null);
            request.Headers.ExpectContinue = true;
            using var anonymous = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        Assert.InRange(cache.ResidentBytes() - before, long.MinValue, 32L * 1024 * 1024);

        // Past 64 KiB, announced or chunked: 413 in the registry's error format, not an empty answer.
        using (var tooBig = await http.SendAsync(Post($"{cache.Url}/admin/warm", new StringContent($"{{\"images\":[\"{big[..200_000]}\"]}}", Encoding.UTF8, "application/json"))))
            await ApiTests.AssertErrorAsync(tooBig, HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($"{{\"images\":[\"{big[..200_000]}\"]}}")));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request2 = Post($"{cache.Url}/admin/warm", chunked);
        request2.Headers.TransferEncodingChunked = true;
        using (var tooBigChunked = await http.SendAsync(request2))
            await ApiTests.AssertErrorAsync(tooBigChunked, HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");
    }

    [Theory]
    [InlineData("/admin/purge?image=UPPER:1", null, HttpStatusCode.BadRequest, "NAME_INVALID")]
    [InlineData("/admin/purge", null, HttpStatusCode.BadRequest, "NAME_INVALID")]
    [InlineData("/admin/purge?image=nosuch:1", null, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN")]
    [InlineData("/admin/purge?image=evil.example.com/x:1", null, HttpStatusCode.NotFound, "NAME_UNKNOWN")]
    [InlineData("/admin/warm", "{}", HttpStatusCode.BadRequest, "BAD_REQUEST")]
    [InlineData("/admin/warm", "not json", HttpStatusCode.BadRequest, "BAD_REQUEST")]
    [InlineData("/admin/warm", "{\"images\":[\"Bad Name!\"]}", HttpStatusCode.BadRequest, "NAME_INVALID")]
    public async Task Bad_input_is_a_4xx_in_the_registry_error_format(string path, string? body, HttpStatusCode status, string code)
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Admin:Token=t0ken-of-the-admin");
        using var http = Net.NewHttpClient();
        using var response = await http.SendAsync(Post(cache.Url + path, body is null ? null : new StringContent(body, Encoding.UTF8, "application/json")));
        await ApiTests.AssertErrorAsync(response, status, code);
        Assert.DoesNotContain("Exception", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_token_is_checked_in_any_scheme_case_and_a_wrong_one_gets_the_challenge()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Admin:Token=t0ken-of-the-admin");
        using var http = Net.NewHttpClient();
        foreach (var scheme in new[] { "Bearer", "bearer", "BEARER" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/admin/stats");
            request.Headers.TryAddWithoutValidation("Authorization", $"{scheme} t0ken-of-the-admin");
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        }
        using var wrong = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/admin/stats") { Headers = { Authorization = new AuthenticationHeaderValue("Basic", "dDBrZW4=") } };
        using var refused = await http.SendAsync(wrong);
        await ApiTests.AssertErrorAsync(refused, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
    }
}

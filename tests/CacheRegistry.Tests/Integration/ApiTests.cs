using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The read API as the distribution spec states it, and every bad input answered with OCI error JSON.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class ApiTests(UpstreamFixture fx) : IAsyncLifetime
{
    private CacheServer _cache = null!;
    private readonly HttpClient _http = Net.NewHttpClient();

    public async Task InitializeAsync() => _cache = await CacheServer.StartAsync(fx.Upstream.Url);

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cache.DisposeAsync();
    }

    private string Url(string path) => _cache.Url + path;

    [Fact]
    public async Task Base_endpoint_answers_with_the_api_version_header()
    {
        using var response = await _http.GetAsync(Url("/v2/"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
    }

    [Fact]
    public async Task Manifest_head_and_get_carry_digest_type_and_exact_length()
    {
        var image = fx.OciIndex;
        using var head = await SendAsync(HttpMethod.Head, $"/v2/{image.Repository}/manifests/{image.Tag}", accept: image.MediaType);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(image.Digest, head.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(image.MediaType, head.Content.Headers.ContentType!.ToString());
        var expected = await File.ReadAllBytesAsync(TestImage.BlobPath(image.LayoutDir, image.Digest));
        Assert.Equal(expected.Length, head.Content.Headers.ContentLength);

        using var get = await SendAsync(HttpMethod.Get, $"/v2/{image.Repository}/manifests/{image.Digest}");
        Assert.Equal(expected, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal(image.MediaType, get.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Client_that_knows_no_indexes_gets_the_linux_amd64_image_of_a_tag()
    {
        var image = fx.OciIndex;
        using var response = await SendAsync(HttpMethod.Get, $"/v2/{image.Repository}/manifests/{image.Tag}", accept: "application/vnd.oci.image.manifest.v1+json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(image.Platforms["linux/amd64"].Manifest, response.Headers.GetValues("Docker-Content-Digest").Single());

        using var refused = await SendAsync(HttpMethod.Get, $"/v2/{image.Repository}/manifests/{image.Tag}", accept: "application/vnd.docker.distribution.manifest.v1+json");
        await AssertErrorAsync(refused, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
    }

    [Fact]
    public async Task Blob_get_head_and_ranges_answer_the_right_bytes()
    {
        var image = fx.Small;
        var layer = image.Platforms["linux/amd64"].Blobs[^1];
        var bytes = await File.ReadAllBytesAsync(TestImage.BlobPath(image.LayoutDir, layer));
        var path = $"/v2/{image.Repository}/blobs/{layer}";

        // A ranged request on a cold blob is served from the fill as it arrives.
        using (var cold = await SendAsync(HttpMethod.Get, path, range: "bytes=10-19"))
        {
            Assert.Equal(HttpStatusCode.PartialContent, cold.StatusCode);
            Assert.Equal(bytes[10..20], await cold.Content.ReadAsByteArrayAsync());
            Assert.Equal($"bytes 10-19/{bytes.Length}", cold.Content.Headers.ContentRange!.ToString());
        }
        using (var head = await SendAsync(HttpMethod.Head, path))
        {
            Assert.Equal(bytes.Length, head.Content.Headers.ContentLength);
            Assert.Equal("bytes", head.Headers.AcceptRanges.Single());
            Assert.Equal(layer, head.Headers.GetValues("Docker-Content-Digest").Single());
        }
        using (var whole = await SendAsync(HttpMethod.Get, path))
            Assert.Equal(bytes, await whole.Content.ReadAsByteArrayAsync());
        using (var open = await SendAsync(HttpMethod.Get, path, range: $"bytes={bytes.Length - 5}-"))
            Assert.Equal(bytes[^5..], await open.Content.ReadAsByteArrayAsync());
        using (var suffix = await SendAsync(HttpMethod.Get, path, range: "bytes=-7"))
            Assert.Equal(bytes[^7..], await suffix.Content.ReadAsByteArrayAsync());
        using (var beyond = await SendAsync(HttpMethod.Get, path, range: $"bytes={bytes.Length}-"))
        {
            await AssertErrorAsync(beyond, HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");
            Assert.Equal($"bytes */{bytes.Length}", beyond.Content.Headers.ContentRange!.ToString());
        }
        foreach (var malformed in new[] { "bytes=5-2", "items=0-1", "bytes=0-1,4-5", "bytes=x-" })
        {
            using var bad = await SendAsync(HttpMethod.Get, path, range: malformed);
            await AssertErrorAsync(bad, HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");
            Assert.Null(bad.Content.Headers.ContentRange); // no size is known (it was 2^63-1)
        }
    }

    [Fact]
    public async Task Tags_list_is_sorted_paged_and_linked()
    {
        var repo = "library/tagged";
        var layout = TestImage.Build(repo, "a", ImageFormat.Oci, ["linux/amd64"], [1024], Net.TempDir("tags"));
        await layout.PushAsync(fx.Upstream.Address);
        using (var http = Net.NewHttpClient())
        {
            var manifest = await File.ReadAllBytesAsync(TestImage.BlobPath(layout.LayoutDir, layout.Digest));
            foreach (var tag in new[] { "c", "b", "e", "d" })
            {
                var content = new ByteArrayContent(manifest);
                content.Headers.ContentType = new(layout.MediaType);
                (await http.PutAsync($"{fx.Upstream.Url}/v2/{repo}/manifests/{tag}", content)).EnsureSuccessStatusCode();
            }
        }

        Assert.Equal(["a", "b", "c", "d", "e"], await TagsAsync("/v2/tagged/tags/list"));
        using var page = await _http.GetAsync(Url("/v2/tagged/tags/list?n=2&last=a"));
        Assert.Equal(["b", "c"], ParseTags(await page.Content.ReadAsStringAsync()));
        Assert.Equal("</v2/tagged/tags/list?n=2&last=c>; rel=\"next\"", page.Headers.GetValues("Link").Single());
        using var lastPage = await _http.GetAsync(Url("/v2/tagged/tags/list?n=2&last=c"));
        Assert.Equal(["d", "e"], ParseTags(await lastPage.Content.ReadAsStringAsync()));
        Assert.False(lastPage.Headers.Contains("Link"));
        Assert.Empty(await TagsAsync("/v2/tagged/tags/list?n=0"));

        using var badN = await _http.GetAsync(Url("/v2/tagged/tags/list?n=-1"));
        await AssertErrorAsync(badN, HttpStatusCode.BadRequest, "PAGINATION_NUMBER_INVALID");
        using var unknown = await _http.GetAsync(Url("/v2/nosuchrepo/tags/list"));
        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }

    [Theory]
    [InlineData("/v2/UPPER/manifests/latest", HttpStatusCode.BadRequest, "NAME_INVALID")]
    [InlineData("/v2/a..b/manifests/latest", HttpStatusCode.BadRequest, "NAME_INVALID")]
    [InlineData("/v2/x/manifests/sha256:abc", HttpStatusCode.BadRequest, "DIGEST_INVALID")]
    [InlineData("/v2/x/blobs/sha256:ZZ", HttpStatusCode.BadRequest, "DIGEST_INVALID")]
    [InlineData("/v2/x/blobs/latest", HttpStatusCode.BadRequest, "DIGEST_INVALID")]
    [InlineData("/v2/x/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", HttpStatusCode.BadRequest, "DIGEST_INVALID")]
    [InlineData("/v2/x/manifests/.INVALID_MANIFEST_NAME", HttpStatusCode.NotFound, "MANIFEST_UNKNOWN")]
    [InlineData("/v2/x/manifests/latest?foo=bar", HttpStatusCode.BadRequest, "UNSUPPORTED")]
    [InlineData("/v2/x/manifests/latest?ns=evil.example.com", HttpStatusCode.NotFound, "NAME_UNKNOWN")]
    [InlineData("/v2/evil.example.com/x/manifests/latest", HttpStatusCode.NotFound, "NAME_UNKNOWN")]
    [InlineData("/v2/x/whatever/latest", HttpStatusCode.NotFound, "NAME_UNKNOWN")]
    [InlineData("/v2/library/nosuch/manifests/latest", HttpStatusCode.NotFound, "MANIFEST_UNKNOWN")]
    [InlineData("/v2/library/small/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", HttpStatusCode.NotFound, "BLOB_UNKNOWN")]
    public async Task Bad_requests_get_oci_errors(string path, HttpStatusCode status, string code)
    {
        var mark = await fx.Upstream.MarkAsync();
        using var response = await _http.GetAsync(Url(path));
        await AssertErrorAsync(response, status, code);
        if (status == HttpStatusCode.BadRequest) Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
    }

    [Fact]
    public async Task Overlong_names_are_refused_before_anything_is_fetched()
    {
        var mark = await fx.Upstream.MarkAsync();
        using var response = await _http.GetAsync(Url($"/v2/{new string('a', 256)}/manifests/latest"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "NAME_INVALID");
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
    }

    [Theory]
    [InlineData("/v2/library/../../etc/passwd/manifests/latest")]
    [InlineData("/v2/library/%2e%2e/secret/manifests/latest")]
    [InlineData("/v2/library%2fsmall/manifests/1")]
    public async Task Path_traversal_is_refused_on_the_raw_request_line(string rawPath)
    {
        // HttpClient would normalise the path, so the request line is written by hand.
        var response = await RawGetAsync(rawPath);
        Assert.StartsWith("HTTP/1.1 400", response);
        Assert.Contains("NAME_INVALID", response);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_cache.DataDir, "spool")));
    }

    [Theory]
    [InlineData("PUT", "/v2/x/manifests/latest")]
    [InlineData("POST", "/v2/x/blobs/uploads/")]
    [InlineData("PATCH", "/v2/x/blobs/uploads/1")]
    [InlineData("DELETE", "/v2/x/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000000")]
    public async Task Push_and_delete_are_unsupported(string method, string path)
    {
        using var response = await _http.SendAsync(new HttpRequestMessage(new HttpMethod(method), Url(path)) { Content = new ByteArrayContent([]) });
        await AssertErrorAsync(response, HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
    }

    [Fact]
    public async Task A_tag_inside_its_freshness_window_is_answered_without_the_upstream()
    {
        var image = fx.Small;
        using (await SendAsync(HttpMethod.Get, $"/v2/{image.Repository}/manifests/{image.Tag}")) { }
        var mark = await fx.Upstream.MarkAsync();
        for (var i = 0; i < 5; i++)
        {
            using var r = await SendAsync(HttpMethod.Head, $"/v2/small/manifests/{image.Tag}");
            Assert.Equal(image.Digest, r.Headers.GetValues("Docker-Content-Digest").Single());
        }
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
    }

    [Fact]
    public async Task Health_endpoints_answer()
    {
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(Url("/healthz"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(Url("/readyz"))).StatusCode);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? accept = null, string? range = null)
    {
        var request = new HttpRequestMessage(method, Url(path));
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
        else
            foreach (var t in new[] { "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                         "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json" })
                request.Headers.TryAddWithoutValidation("Accept", t);
        if (range is not null) request.Headers.TryAddWithoutValidation("Range", range);
        return await _http.SendAsync(request);
    }

    private async Task<List<string>> TagsAsync(string path)
    {
        using var response = await _http.GetAsync(Url(path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return ParseTags(await response.Content.ReadAsStringAsync());
    }

    private static List<string> ParseTags(string json) =>
        JsonDocument.Parse(json).RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToList();

    internal static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        var error = doc.RootElement.GetProperty("errors")[0];
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    private async Task<string> RawGetAsync(string rawPath)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _cache.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {rawPath} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace CacheRegistry.Tests.Unit;

/// <summary>An in-memory HTTP handler for unit tests of the cache logic; it records every request.</summary>
public sealed class StubHandler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
{
    public List<(string Method, string Url, string? Authorization)> Requests { get; } = [];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Requests) Requests.Add((request.Method.Method, request.RequestUri!.ToString(), request.Headers.Authorization?.ToString()));
        return Task.FromResult(respond(request));
    }

    public static HttpResponseMessage Manifest(byte[] content, string mediaType = "application/vnd.oci.image.manifest.v1+json")
    {
        var r = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) };
        r.Content.Headers.ContentType = new(mediaType);
        r.Headers.Add("Docker-Content-Digest", DigestOf(content));
        return r;
    }

    public static string DigestOf(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    public static byte[] ManifestBytes(string label) =>
        Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"l":"{{{label}}}"}}""");
}

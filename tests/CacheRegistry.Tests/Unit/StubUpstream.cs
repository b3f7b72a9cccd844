using System.Net;
using System.Security.Cryptography;
using System.Text;
using CacheRegistry.Routing;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

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

public static class Stub
{
    /// <summary>
    /// Names for the redirect checks without DNS (nothing of a unit test may leave the machine):
    /// hosts ending in <c>.internal.test</c> are on a private network, <c>metadata.test</c> is the
    /// link-local metadata service, every other name is a public address.
    /// </summary>
    public static Task<IReadOnlyList<IPAddress>> Resolve(string host, CancellationToken ct) => Task.FromResult<IReadOnlyList<IPAddress>>(
        IPAddress.TryParse(host, out var literal) ? [literal]
        : host.EndsWith(".internal.test", StringComparison.Ordinal) ? [IPAddress.Parse("10.1.2.3")]
        : host == "metadata.test" ? [IPAddress.Parse("169.254.169.254")]
        : [IPAddress.Parse("203.0.113.10")]);

    public static RepositoryRef Repo(StubHandler handler, TimeProvider time, string name = "library/x", UpstreamOptions? options = null)
    {
        var timeouts = new TimeoutOptions { FirstByte = TimeSpan.FromSeconds(5) };
        var http = new HttpClient(handler);
        var client = new UpstreamClient("docker.io", options ?? new UpstreamOptions { Endpoints = ["https://registry.test"] },
            http, timeouts, time, NullLogger.Instance, resolve: Resolve);
        return new RepositoryRef(client, name);
    }
}

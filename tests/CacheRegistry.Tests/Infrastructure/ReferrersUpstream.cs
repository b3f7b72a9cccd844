using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// What distribution 2.8 cannot serve: an upstream with the OCI 1.1 referrers API (it ignores
/// <c>artifactType</c>, as the spec allows) and a Docker schema 1 signed manifest, whose digest is
/// that of its payload, not of the bytes served. Repository "stub/app"; it counts referrers requests.
/// </summary>
public sealed class ReferrersUpstream : IAsyncDisposable
{
    public const string Repository = "stub/app";
    public const string SignatureType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    public const string SbomType = "application/spdx+json";
    private readonly WebApplication _app;
    private int _referrersRequests;

    public string Subject { get; } = "sha256:" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
    public string SignatureDigest { get; } = "sha256:" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
    public string SbomDigest { get; } = "sha256:" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
    public byte[] Schema1 { get; }
    public string Schema1Digest { get; }
    public int ReferrersRequests => Volatile.Read(ref _referrersRequests);
    /// <summary>When set, the referrers API answers with this status.</summary>
    public int? ReferrersStatus { get; set; }
    public string Url { get; private set; } = "";

    private ReferrersUpstream()
    {
        (Schema1, Schema1Digest) = SignedSchema1();
        _app = LoopbackApp.Create();
        _app.MapGet("/v2/", () => Results.Ok());
        _app.MapGet($"/v2/{Repository}/referrers/{{digest}}", async (HttpContext ctx, string digest) =>
        {
            Interlocked.Increment(ref _referrersRequests);
            if (ReferrersStatus is int status)
            {
                ctx.Response.StatusCode = status;
                return;
            }
            var manifests = digest != Subject ? "" : Descriptor(SignatureDigest, SignatureType) + "," + Descriptor(SbomDigest, SbomType);
            ctx.Response.ContentType = "application/vnd.oci.image.index.v1+json";
            await ctx.Response.WriteAsync("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[""" + manifests + "]}");
        });
        _app.MapMethods($"/v2/{Repository}/manifests/{{reference}}", ["GET", "HEAD"], async (HttpContext ctx, string reference) =>
        {
            if (reference != "old" && reference != Schema1Digest)
            {
                ctx.Response.StatusCode = 404;
                return;
            }
            ctx.Response.ContentType = "application/vnd.docker.distribution.manifest.v1+prettyjws";
            ctx.Response.Headers["Docker-Content-Digest"] = Schema1Digest;
            ctx.Response.ContentLength = Schema1.Length;
            if (HttpMethods.IsGet(ctx.Request.Method)) await ctx.Response.Body.WriteAsync(Schema1);
        });
    }

    private static string Descriptor(string digest, string artifactType) =>
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + digest + "\",\"size\":512,\"artifactType\":\"" + artifactType + "\"}";

    /// <summary>A libtrust JWS as registries of the schema 1 era served it: the payload with a signatures block spliced in before its last brace.</summary>
    private static (byte[] Content, string Digest) SignedSchema1()
    {
        var payload = "{\n   \"schemaVersion\": 1,\n   \"name\": \"" + Repository + "\",\n   \"tag\": \"old\",\n   \"architecture\": \"amd64\",\n   \"fsLayers\": [],\n   \"history\": []\n}";
        const string tail = "\n}";
        var formatLength = payload.Length - tail.Length;
        var protectedHeader = Base64Url("{\"formatLength\":" + formatLength + ",\"formatTail\":\"" + Base64Url(tail) + "\",\"time\":\"2016-01-01T00:00:00Z\"}");
        var signed = payload[..formatLength] + ",\n   \"signatures\": [\n      {\n         \"header\": {\"alg\": \"ES256\"},\n         \"signature\": \"c2ln\",\n         \"protected\": \""
            + protectedHeader + "\"\n      }\n   ]" + tail;
        return (Encoding.UTF8.GetBytes(signed), RegistryPush.DigestOf(Encoding.UTF8.GetBytes(payload)));
    }

    private static string Base64Url(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static async Task<ReferrersUpstream> StartAsync()
    {
        var upstream = new ReferrersUpstream();
        upstream.Url = await LoopbackApp.StartAsync(upstream._app);
        return upstream;
    }

    public ValueTask DisposeAsync() => LoopbackApp.StopAsync(_app);
}

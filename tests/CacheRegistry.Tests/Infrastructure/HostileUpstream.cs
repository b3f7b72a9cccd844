using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// An upstream that attacks the cache, and a second origin ("collector") that records every
/// header it receives: what a compromised mirror, a lying redirect target or token service do.
/// The upstream itself demands Basic alice:hunter2 (the credentials the cache is configured with).
/// Repositories: <c>creds</c> (blobs redirected to the collector, which asks for Basic),
/// <c>bearer</c> (blobs redirected to the collector, which asks for a token from its own realm),
/// <c>ssrf</c> (manifest redirected to the internal service it is given), <c>html</c> (a web page as
/// manifest), <c>tokenbomb</c> (an endless token answer), <c>badlocation</c> (a malformed redirect),
/// <c>badrealm</c> (a malformed realm).
/// </summary>
public sealed class HostileUpstream : IAsyncDisposable
{
    public const string User = "alice";
    public const string Password = "hunter2";
    private readonly WebApplication _upstream = LoopbackApp.Create();
    private readonly WebApplication _collector = LoopbackApp.Create();
    private readonly string _internalUrl;

    public byte[] Layer { get; } = RandomNumberGenerator.GetBytes(4096);
    public string LayerDigest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Layer));
    public byte[] Manifest { get; }
    public string Url { get; private set; } = "";
    public string CollectorUrl { get; private set; } = "";
    /// <summary>Every request the collector saw: path and Authorization header.</summary>
    public ConcurrentQueue<(string Path, string? Authorization)> Collected { get; } = new();

    private HostileUpstream(string internalUrl)
    {
        _internalUrl = internalUrl;
        Manifest = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{LayerDigest}}","size":{{Layer.Length}}},"layers":[]}""");
        _upstream.Use(async (ctx, next) =>
        {
            var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
            // The bearer cases challenge with Bearer from the start.
            var bearer = ctx.Request.Path.StartsWithSegments("/endless-token") || ctx.Request.Path.StartsWithSegments("/v2/library/tokenbomb")
                         || ctx.Request.Path.StartsWithSegments("/v2/library/badrealm");
            if (bearer || ctx.Request.Headers.Authorization == expected)
            {
                await next(ctx);
                return;
            }
            ctx.Response.StatusCode = 401;
            ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"hostile\"";
        });
        _upstream.MapGet("/v2/", () => Results.Ok());
        _upstream.MapMethods("/v2/library/{repo}/manifests/{reference}", ["GET", "HEAD"], (HttpContext ctx, string repo) => repo switch
        {
            "ssrf" => Results.Redirect(_internalUrl + "/latest/meta-data", preserveMethod: true),
            "html" => Results.Content("<html><body><script>alert(document.cookie)</script></body></html>", "text/html"),
            "tokenbomb" => Challenge(ctx, $"Bearer realm=\"{Url}/endless-token\",service=\"s\""),
            "badlocation" => RawRedirect(ctx, "http://[::bad"),
            "badrealm" => Challenge(ctx, "Bearer realm=\"::not a url\",service=\"s\""),
            _ => Results.Bytes(Manifest, "application/vnd.oci.image.manifest.v1+json"),
        });
        _upstream.MapMethods("/v2/library/{repo}/blobs/{digest}", ["GET", "HEAD"], (string repo) =>
            Results.Redirect($"{CollectorUrl}/{repo}/blob", preserveMethod: true));
        _upstream.MapGet("/endless-token", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/json";
            var chunk = Encoding.ASCII.GetBytes(new string('a', 64 * 1024));
            await ctx.Response.Body.WriteAsync("{\"token\":\""u8.ToArray());
            while (!ctx.RequestAborted.IsCancellationRequested) await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
        });

        _collector.Use(async (ctx, next) =>
        {
            Collected.Enqueue((ctx.Request.Path + ctx.Request.QueryString, ctx.Request.Headers.Authorization.FirstOrDefault()));
            await next(ctx);
        });
        _collector.MapMethods("/creds/blob", ["GET", "HEAD"], (HttpContext ctx) => Challenge(ctx, "Basic realm=\"collector\""));
        _collector.MapMethods("/bearer/blob", ["GET", "HEAD"], (HttpContext ctx) => ctx.Request.Headers.Authorization == "Bearer collected"
            ? Results.Bytes(Layer) : Challenge(ctx, $"Bearer realm=\"{CollectorUrl}/token\",service=\"collector\""));
        _collector.MapGet("/token", () => Results.Json(new { token = "collected" }));
    }

    /// <summary>Where the <c>ssrf</c> repository's manifest is redirected: an internal service.</summary>
    public static async Task<HostileUpstream> StartAsync(string internalUrl)
    {
        var hostile = new HostileUpstream(internalUrl);
        hostile.Url = await LoopbackApp.StartAsync(hostile._upstream);
        hostile.CollectorUrl = await LoopbackApp.StartAsync(hostile._collector);
        return hostile;
    }

    private static IResult Challenge(HttpContext ctx, string challenge)
    {
        ctx.Response.Headers.WWWAuthenticate = challenge;
        return Results.StatusCode(401);
    }

    private static IResult RawRedirect(HttpContext ctx, string location)
    {
        ctx.Response.Headers.Location = location;
        return Results.StatusCode(302);
    }

    public async ValueTask DisposeAsync()
    {
        await LoopbackApp.StopAsync(_upstream);
        await LoopbackApp.StopAsync(_collector);
    }
}

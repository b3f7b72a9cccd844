using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Tests.Infrastructure;

public enum BlobFault { None, CorruptBytes, Truncate, SlowDrip }

/// <summary>
/// A fault-injecting upstream for what a real registry will not do on demand: corrupt, truncated
/// or dripping blobs. It serves one repository ("library/faulty") with one manifest and one layer
/// and counts the blob GETs it answers.
/// </summary>
public sealed class FaultyUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _blobGets;

    public byte[] Layer { get; } = RandomNumberGenerator.GetBytes(512 * 1024);
    public string LayerDigest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Layer));
    public byte[] Manifest { get; }
    public string ManifestDigest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Manifest));
    public BlobFault Fault { get; set; }
    public int BlobGets => Volatile.Read(ref _blobGets);
    public string Url { get; private set; } = "";

    private FaultyUpstream()
    {
        Manifest = System.Text.Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{LayerDigest}}","size":{{Layer.Length}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{LayerDigest}}","size":{{Layer.Length}}}]}""");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapGet("/v2/", () => Results.Ok());
        _app.MapMethods("/v2/library/faulty/manifests/{reference}", ["GET", "HEAD"], async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "application/vnd.oci.image.manifest.v1+json";
            ctx.Response.Headers["Docker-Content-Digest"] = ManifestDigest;
            ctx.Response.ContentLength = Manifest.Length;
            if (HttpMethods.IsGet(ctx.Request.Method)) await ctx.Response.Body.WriteAsync(Manifest);
        });
        _app.MapMethods("/v2/library/faulty/blobs/{digest}", ["GET", "HEAD"], ServeBlobAsync);
    }

    public static async Task<FaultyUpstream> StartAsync()
    {
        var upstream = new FaultyUpstream();
        await upstream._app.StartAsync();
        upstream.Url = upstream._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return upstream;
    }

    private async Task ServeBlobAsync(HttpContext ctx, string digest)
    {
        if (digest != LayerDigest)
        {
            ctx.Response.StatusCode = 404;
            return;
        }
        ctx.Response.ContentLength = Layer.Length;
        if (HttpMethods.IsHead(ctx.Request.Method)) return;
        Interlocked.Increment(ref _blobGets);
        switch (Fault)
        {
            case BlobFault.CorruptBytes:
                var corrupt = (byte[])Layer.Clone();
                corrupt[corrupt.Length / 2] ^= 0xFF;
                await ctx.Response.Body.WriteAsync(corrupt);
                break;
            case BlobFault.Truncate:
                await ctx.Response.Body.WriteAsync(Layer.AsMemory(0, Layer.Length / 2));
                await ctx.Response.Body.FlushAsync();
                ctx.Abort();
                break;
            case BlobFault.SlowDrip:
                for (var offset = 0; offset < Layer.Length; offset += 32 * 1024)
                {
                    await ctx.Response.Body.WriteAsync(Layer.AsMemory(offset, Math.Min(32 * 1024, Layer.Length - offset)), CancellationToken.None);
                    await ctx.Response.Body.FlushAsync(CancellationToken.None);
                    await Task.Delay(100, CancellationToken.None);
                }
                break;
            default:
                await ctx.Response.Body.WriteAsync(Layer);
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Infrastructure;

public enum BlobFault
{
    None,
    /// <summary>One byte flipped.</summary>
    CorruptBytes,
    /// <summary>Half the bytes, then the connection is cut — every time.</summary>
    Truncate,
    /// <summary>32 KiB every 100 ms.</summary>
    SlowDrip,
    /// <summary>The first GET is cut after half the bytes; later ones (resumes) are served.</summary>
    CutOnce,
    /// <summary>The first GET stalls after half the bytes; later ones are served.</summary>
    StallOnce,
    /// <summary>Like CutOnce, but a resumed GET ignores Range and sends the whole blob again.</summary>
    CutOnceThenIgnoreRange,
    ServerError,
    RateLimited,
    /// <summary>Half the bytes, then nothing until <see cref="FaultyUpstream.Gate"/> is opened, then the rest.</summary>
    Gated,
    /// <summary>A blob GET is taken in and never answered, not even with headers.</summary>
    Silent,
}

/// <summary>
/// A fault-injecting upstream for what a real registry will not do on demand: corrupt, truncated
/// or dripping blobs. It serves one repository ("library/faulty") with one manifest and one layer
/// and counts the blob GETs it answers.
/// </summary>
public sealed class FaultyUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _blobGets;
    private readonly List<string?> _ranges = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _traceparents = new();

    public byte[] Layer { get; } = RandomNumberGenerator.GetBytes(512 * 1024);
    public string LayerDigest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Layer));
    /// <summary>A second blob of the repository, always served whole and without faults.</summary>
    public byte[] Extra { get; } = RandomNumberGenerator.GetBytes(64 * 1024);
    public string ExtraDigest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Extra));
    private int _extraGets;
    public int ExtraGets => Volatile.Read(ref _extraGets);
    public byte[] Manifest { get; }
    public string ManifestDigest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Manifest));
    public BlobFault Fault { get; set; }
    /// <summary>When set, every manifest request is answered with this status (429, 503…).</summary>
    public int? ManifestStatus { get; set; }
    public int BlobGets => Volatile.Read(ref _blobGets);
    /// <summary>The Range header of every blob GET, in order.</summary>
    public IReadOnlyList<string?> Ranges { get { lock (_ranges) return _ranges.ToList(); } }
    /// <summary>Holds a <see cref="BlobFault.Gated"/> blob in the middle until opened.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public string Url { get; private set; } = "";
    /// <summary>The W3C traceparent header of every request that had one.</summary>
    public IReadOnlyList<string> Traceparents => _traceparents.ToArray();

    private FaultyUpstream()
    {
        Manifest = System.Text.Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{LayerDigest}}","size":{{Layer.Length}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{LayerDigest}}","size":{{Layer.Length}}}]}""");
        _app = LoopbackApp.Create();
        _app.Use((ctx, next) =>
        {
            if (ctx.Request.Headers.TryGetValue("traceparent", out var traceparent)) _traceparents.Enqueue(traceparent.ToString());
            return next(ctx);
        });
        _app.MapGet("/v2/", () => Results.Ok());
        _app.MapMethods("/v2/library/faulty/manifests/{reference}", ["GET", "HEAD"], async (HttpContext ctx) =>
        {
            if (ManifestStatus is int status)
            {
                ctx.Response.StatusCode = status;
                ctx.Response.Headers.RetryAfter = "7";
                return;
            }
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
        upstream.Url = await LoopbackApp.StartAsync(upstream._app);
        return upstream;
    }

    private async Task ServeBlobAsync(HttpContext ctx, string digest)
    {
        if (digest == ExtraDigest)
        {
            ctx.Response.ContentLength = Extra.Length;
            if (HttpMethods.IsGet(ctx.Request.Method))
            {
                Interlocked.Increment(ref _extraGets);
                await ctx.Response.Body.WriteAsync(Extra);
            }
            return;
        }
        if (digest != LayerDigest)
        {
            ctx.Response.StatusCode = 404;
            return;
        }
        if (Fault == BlobFault.ServerError || Fault == BlobFault.RateLimited)
        {
            ctx.Response.StatusCode = Fault == BlobFault.ServerError ? 503 : 429;
            ctx.Response.Headers.RetryAfter = "7";
            return;
        }
        if (HttpMethods.IsHead(ctx.Request.Method))
        {
            ctx.Response.ContentLength = Layer.Length;
            return;
        }
        var attempt = Interlocked.Increment(ref _blobGets);
        if (Fault == BlobFault.Silent)
        {
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }
        var range = ctx.Request.Headers.Range.FirstOrDefault();
        lock (_ranges) _ranges.Add(range);
        var start = 0;
        var honourRange = range is not null && !(Fault == BlobFault.CutOnceThenIgnoreRange && attempt > 1);
        if (honourRange && range!.StartsWith("bytes=", StringComparison.Ordinal))
        {
            start = int.Parse(range[6..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
            ctx.Response.StatusCode = 206;
            ctx.Response.Headers.ContentRange = $"bytes {start}-{Layer.Length - 1}/{Layer.Length}";
        }
        ctx.Response.ContentLength = Layer.Length - start;
        var half = Layer.Length / 2;
        var firstTry = attempt == 1;
        switch (Fault)
        {
            case BlobFault.CorruptBytes:
                var corrupt = (byte[])Layer.Clone();
                corrupt[corrupt.Length / 2] ^= 0xFF;
                await ctx.Response.Body.WriteAsync(corrupt.AsMemory(start));
                break;
            case BlobFault.Truncate:
            case BlobFault.CutOnce or BlobFault.CutOnceThenIgnoreRange when firstTry:
                await ctx.Response.Body.WriteAsync(Layer.AsMemory(start, Math.Max(0, half - start)));
                await ctx.Response.Body.FlushAsync();
                ctx.Abort();
                return;
            case BlobFault.StallOnce when firstTry:
                await ctx.Response.Body.WriteAsync(Layer.AsMemory(0, half));
                await ctx.Response.Body.FlushAsync();
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            case BlobFault.Gated:
                await ctx.Response.Body.WriteAsync(Layer.AsMemory(start, Math.Max(0, half - start)));
                await ctx.Response.Body.FlushAsync();
                await Gate.Task;
                await ctx.Response.Body.WriteAsync(Layer.AsMemory(Math.Max(start, half)));
                break;
            case BlobFault.SlowDrip:
                for (var offset = start; offset < Layer.Length; offset += 32 * 1024)
                {
                    await ctx.Response.Body.WriteAsync(Layer.AsMemory(offset, Math.Min(32 * 1024, Layer.Length - offset)), CancellationToken.None);
                    await ctx.Response.Body.FlushAsync(CancellationToken.None);
                    await Task.Delay(100, CancellationToken.None);
                }
                break;
            default:
                await ctx.Response.Body.WriteAsync(Layer.AsMemory(start));
                break;
        }
    }

    public ValueTask DisposeAsync() => LoopbackApp.StopAsync(_app);
}

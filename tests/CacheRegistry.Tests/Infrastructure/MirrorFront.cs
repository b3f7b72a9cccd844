using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>What a <see cref="MirrorFront"/> does to blob GETs.</summary>
public enum MirrorFault
{
    None,
    /// <summary>Every blob body has its first byte flipped (a mirror that serves wrong bytes).</summary>
    Corrupt,
    /// <summary>Range is dropped: every blob GET gets the whole blob with 200.</summary>
    IgnoreRange,
    /// <summary>Blob GETs are taken in and never answered.</summary>
    Hang,
    /// <summary>Blob bodies stop after 64 KiB and the connection stays open.</summary>
    Stall,
}

/// <summary>
/// A mirror in front of the real upstream registry, for what a real mirror will not do on demand:
/// per-connection throttling, wrong bytes, ignoring Range, hanging. Everything else is forwarded
/// as it is. Counts the blob bytes it sends.
/// </summary>
public sealed class MirrorFront : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly CancellationTokenSource _stop = new();
    private long _blobBytes;
    private int _blobGets;

    private MirrorFront(string upstream)
    {
        _app = LoopbackApp.Create();
        _app.Run(ctx => ForwardAsync(ctx, upstream));
    }

    public static async Task<MirrorFront> StartAsync(string upstreamUrl)
    {
        var front = new MirrorFront(upstreamUrl.TrimEnd('/'));
        front.Url = await LoopbackApp.StartAsync(front._app);
        return front;
    }

    public string Url { get; private set; } = "";
    public MirrorFault Fault { get; set; }
    /// <summary>Bytes per second of each blob response (0: as fast as it goes).</summary>
    public int BytesPerSecond { get; set; }
    /// <summary>Manifest requests are taken in and never answered.</summary>
    public bool HangManifests { get; set; }
    public int ManifestRequests => Volatile.Read(ref _manifestRequests);
    private int _manifestRequests;

    /// <summary>When set ("user:password"), requests without these Basic credentials get a 401 challenge.</summary>
    public string? RequireBasic { get; set; }
    /// <summary>Every Authorization header received.</summary>
    public IReadOnlyCollection<string> Authorizations => _authorizations.ToArray();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _authorizations = new();
    public long BlobBytes => Interlocked.Read(ref _blobBytes);
    public int BlobGets => Volatile.Read(ref _blobGets);

    private async Task ForwardAsync(HttpContext ctx, string upstream)
    {
        if (ctx.Request.Headers.Authorization.Count > 0) _authorizations.Enqueue(ctx.Request.Headers.Authorization.ToString());
        if (RequireBasic is { } basic && ctx.Request.Headers.Authorization.ToString() != "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(basic)))
        {
            ctx.Response.StatusCode = 401;
            ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"mirror\"";
            return;
        }
        var isBlobGet = ctx.Request.Method == "GET" && ctx.Request.Path.Value!.Contains("/blobs/", StringComparison.Ordinal);
        if (ctx.Request.Path.Value!.Contains("/manifests/", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _manifestRequests);
            if (HangManifests)
            {
                await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, ctx.RequestAborted).Token).ContinueWith(_ => { });
                return;
            }
        }
        if (isBlobGet)
        {
            Interlocked.Increment(ref _blobGets);
            if (Fault == MirrorFault.Hang)
            {
                await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, ctx.RequestAborted).Token).ContinueWith(_ => { });
                return;
            }
        }
        using var request = new HttpRequestMessage(new HttpMethod(ctx.Request.Method), upstream + ctx.Request.Path + ctx.Request.QueryString);
        foreach (var h in new[] { "Accept" })
            if (ctx.Request.Headers.TryGetValue(h, out var v)) request.Headers.TryAddWithoutValidation(h, (IEnumerable<string>)v!);
        if (ctx.Request.Headers.Range.Count > 0 && !(isBlobGet && Fault == MirrorFault.IgnoreRange))
            request.Headers.TryAddWithoutValidation("Range", (IEnumerable<string>)ctx.Request.Headers.Range!);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ctx.RequestAborted);
        ctx.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            if (name is not ("Transfer-Encoding" or "Connection")) ctx.Response.Headers[name] = values.ToArray();
        await using var body = await response.Content.ReadAsStreamAsync(ctx.RequestAborted);
        if (!isBlobGet || ctx.Request.Method == "HEAD")
        {
            await body.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
            return;
        }
        var buffer = new byte[16 * 1024];
        long sent = 0;
        var started = DateTime.UtcNow;
        int n;
        while ((n = await body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
        {
            if (sent == 0 && Fault == MirrorFault.Corrupt) buffer[0] ^= 0xFF;
            if (Fault == MirrorFault.Stall && sent + n > 64 * 1024)
            {
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, ctx.RequestAborted).Token).ContinueWith(_ => { });
                return;
            }
            await ctx.Response.Body.WriteAsync(buffer.AsMemory(0, n), ctx.RequestAborted);
            sent += n;
            Interlocked.Add(ref _blobBytes, n);
            if (BytesPerSecond > 0 && TimeSpan.FromSeconds((double)sent / BytesPerSecond) - (DateTime.UtcNow - started) is { Ticks: > 0 } ahead)
                await Task.Delay(ahead, ctx.RequestAborted);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await LoopbackApp.StopAsync(_app);
        _http.Dispose();
        _stop.Dispose();
    }
}

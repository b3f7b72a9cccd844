using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A fault-injecting front for a real S3 server (s3rver): requests pass through unchanged (the
/// Host header too, so signatures still match), and while <see cref="EvictAfterHead"/> is set, a
/// successful HEAD of a blob is followed at once by that blob's deletion in the real server — as
/// when another replica's size limit evicts a blob between this replica's lookup and its read.
/// With <see cref="HangBlobGets"/>, GETs of blobs get no answer at all (a store that answers its
/// lookups and hangs on reads).
/// </summary>
public sealed class EvictingS3Front : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, AutomaticDecompression = System.Net.DecompressionMethods.None });
    private readonly S3Server _s3;
    private int _evicted;

    private EvictingS3Front(S3Server s3)
    {
        _s3 = s3;
        _app = LoopbackApp.Create();
        _app.Run(ForwardAsync);
    }

    public string Url { get; private set; } = "";

    /// <summary>Deletes (through this callback, given the object key) a blob just after a HEAD found it.</summary>
    public Func<string, Task>? EvictAfterHead { get; set; }

    public int Evicted => Volatile.Read(ref _evicted);

    public bool HangBlobGets { get; set; }

    public static async Task<EvictingS3Front> StartAsync(S3Server s3)
    {
        var front = new EvictingS3Front(s3);
        front.Url = await LoopbackApp.StartAsync(front._app);
        return front;
    }

    private async Task ForwardAsync(HttpContext ctx)
    {
        if (HangBlobGets && HttpMethods.IsGet(ctx.Request.Method) && ctx.Request.Path.Value!.Contains("/blobs/", StringComparison.Ordinal))
        {
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }
        using var request = new HttpRequestMessage(new HttpMethod(ctx.Request.Method), _s3.Url + ctx.Request.Path + ctx.Request.QueryString);
        if (ctx.Request.ContentLength > 0 || ctx.Request.Headers.TransferEncoding.Count > 0) request.Content = new StreamContent(ctx.Request.Body);
        foreach (var (name, values) in ctx.Request.Headers)
        {
            if (name.Equals("Expect", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)) continue;
            if (!request.Headers.TryAddWithoutValidation(name, values.ToArray())) request.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
        }
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ctx.RequestAborted);
        if (HttpMethods.IsHead(ctx.Request.Method) && response.IsSuccessStatusCode && ctx.Request.Path.Value!.Contains("/blobs/", StringComparison.Ordinal)
            && EvictAfterHead is { } evict)
        {
            await evict(ctx.Request.Path.Value!);
            Interlocked.Increment(ref _evicted);
        }
        ctx.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            if (!name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && !name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                ctx.Response.Headers[name] = values.ToArray();
        if (!HttpMethods.IsHead(ctx.Request.Method)) await response.Content.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await LoopbackApp.StopAsync(_app);
        _http.Dispose();
    }
}

using CacheRegistry.Cache;

namespace CacheRegistry.Server.Http;

/// <summary>What one request did, filled in by the handler and written as one log line.</summary>
internal sealed class RequestOutcome
{
    public string? Upstream { get; set; }
    public string? Repository { get; set; }
    public string? Reference { get; set; }
    public CacheOutcome? Cache { get; set; }
    public string? Endpoint { get; set; }
    public long Bytes { get; set; }
    public string? Error { get; set; }
    /// <summary>manifest, blob, tags, referrers or other: the <c>kind</c> label of the request metrics.</summary>
    public string? Kind { get; set; }
    /// <summary>When the first body byte of a blob miss went out (a Stopwatch timestamp), for time to first byte.</summary>
    public long? FirstByteAt { get; set; }

    public static RequestOutcome Of(HttpContext ctx)
    {
        if (ctx.Features.Get<RequestOutcome>() is { } existing) return existing;
        var created = new RequestOutcome();
        ctx.Features.Set(created);
        return created;
    }
}

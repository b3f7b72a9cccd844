using System.Diagnostics;
using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Cache;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace CacheRegistry.Server.Http;

/// <summary>
/// Wraps every registry request: the API version header, refusal of hostile raw paths before
/// Kestrel's normalisation can hide them, OCI error JSON for failures, and one log line.
/// </summary>
internal sealed partial class RegistryMiddleware(RequestDelegate next, Operations.CacheStats stats, CacheMetrics metrics, Telemetry.Logging.RequestLog requestLog,
    Serilog.IDiagnosticContext requestLine, PullTracker pulls, DashboardActivity dashboard, RegistryOptions options, IOptions<UiOptions> ui, ILogger<RegistryMiddleware> log)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        var started = Stopwatch.GetTimestamp();
        ctx.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        ctx.Response.Headers.XContentTypeOptions = "nosniff"; // bytes from upstreams are never to be read as a page
        var outcome = RequestOutcome.Of(ctx);
        // Admin calls, refused ones too, are counted apart from registry traffic.
        if (ctx.Request.Path.StartsWithSegments("/admin")) outcome.Kind = "admin";
        try
        {
            RejectHostileTarget(ctx);
            await next(ctx);
        }
        catch (RegistryError e) when (!ctx.Response.HasStarted)
        {
            outcome.Error = e.Code;
            await WriteErrorAsync(ctx, e);
        }
        catch (StoreUnavailableException e) when (!ctx.Response.HasStarted)
        {
            outcome.Error = "UNAVAILABLE";
            await WriteErrorAsync(ctx, new RegistryError(503, "UNAVAILABLE", e.Message) { RetryAfterSeconds = 5 });
        }
        catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
        {
            // A body too large, or one (or a query value) that does not bind.
            outcome.Error = "BAD_REQUEST";
            await WriteErrorAsync(ctx, new RegistryError(e.StatusCode, e.StatusCode == 413 ? "SIZE_INVALID" : "BAD_REQUEST", e.Message));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            outcome.Error = "CLIENT_GONE";
        }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            // A bug: the details go to the log, not to whoever sent the request.
            outcome.Error = "UNKNOWN";
            Log.Unexpected(log, e, ctx.Request.Path, ctx.TraceIdentifier);
            await WriteErrorAsync(ctx, new RegistryError(500, "UNKNOWN", $"internal error; the server log has it under request {ctx.TraceIdentifier}"));
        }
        #pragma warning disable CA1031 // the boundary: a response already started can only be cut
        catch (Exception e)
        {
            // Headers are out: the only honest signal left is a cut connection, so the client sees
            // a short body and retries instead of keeping wrong bytes.
            outcome.Error = "ABORTED";
            Log.AbortedMidBody(log, ctx.Request.Path, e.Message);
            ctx.Abort();
        }
        #pragma warning restore CA1031
        finally
        {
            stats.Record(outcome.Upstream, outcome.Cache, outcome.Bytes);
            var result = Measure(ctx, outcome, started);
            Track(ctx, outcome, result, started);
            Describe(Activity.Current, ctx, outcome);
            // The fields cost allocations on the hot path: only for lines that will be written.
            if (requestLog.Take(ctx, IsRoutine(ctx, outcome))) DescribeLine(outcome);
        }
    }

    /// <returns>The request's <c>result</c> label.</returns>
    private string Measure(HttpContext ctx, RequestOutcome outcome, long started)
    {
        var status = ctx.Response.StatusCode;
        var kind = outcome.Kind ?? "other";
        var result = status switch
        {
            401 or 403 => "denied",
            429 => "limited", // this cache's rate limit or quota, or the upstream's
            404 => "not_found",
            _ when outcome.Error is not null || status >= 400 => "error",
            _ when kind == "push" => "forwarded",
            _ => outcome.Cache?.Label() ?? "hit", // answered here without a cache lookup: the ping, the catalog
        };
        metrics.Request(kind, result, Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (outcome.Cache is { } cache) metrics.Served(cache.IsFromCache(), outcome.Bytes);
        if (outcome.FirstByteAt is long first) metrics.TimeToFirstByte(Stopwatch.GetElapsedTime(started, first).TotalSeconds);
        // A pull: a manifest request by tag or digest; "not found" is the client's question, a gone client its own doing.
        if (kind == "manifest" && status != 404 && outcome.Error != "CLIENT_GONE") metrics.Pull(status is >= 200 and < 300 && outcome.Error is null);
        return result;
    }

    /// <summary>What the dashboard lists and the availability check watches, when they are on.</summary>
    private void Track(HttpContext ctx, RequestOutcome outcome, string result, long started)
    {
        var (kind, status) = (outcome.Kind, ctx.Response.StatusCode);
        if (ui.Value.Enabled && outcome.Repository is { } shown)
        {
            dashboard.Requested(shown, outcome.Bytes);
            // Pulls, and the manifests pushed through (the blobs before them are not what people look for).
            var pushedManifest = kind == "push" && HttpMethods.IsPut(ctx.Request.Method) && ctx.Request.Path.Value?.Contains("/manifests/", StringComparison.Ordinal) == true;
            if ((kind == "manifest" || pushedManifest) && outcome.Error != "CLIENT_GONE" && !(status == 404 && IsArtifactTagProbe(outcome.Reference)))
                dashboard.Pulled(new RecentPull(DateTimeOffset.UtcNow, shown + (outcome.Reference is { } r && r.StartsWith("sha256:", StringComparison.Ordinal) ? "@" : ":") + outcome.Reference, result, status, outcome.Error,
                    Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1)));
        }
        // The tags clients use are the ones the availability check watches.
        if (options.Availability.Enabled && kind == "manifest" && status is >= 200 and < 300 && outcome.Repository is { } repository
            && outcome.Reference is { } tag && !Digest.TryParse(tag, out _))
            pulls.Pulled(repository, tag);
    }

    /// <summary>
    /// The fallback and cosign tags of another manifest (<c>sha256-&lt;hex&gt;</c>, <c>.sig</c>…) asked
    /// for and not there: warm runs and cosign probe them for every image, so a 404 is an answer, not
    /// a failed pull.
    /// </summary>
    private static bool IsArtifactTagProbe(string? reference) => reference is not null && Referrer.IsSubjectTag(reference);

    /// <summary>Answered from the cache, or a ping, probe or scrape that went well: the lines <c>Logging:HitSampling</c> thins out.</summary>
    private static bool IsRoutine(HttpContext ctx, RequestOutcome outcome) =>
        ctx.Response.StatusCode < 400 && outcome.Error is null && (outcome.Cache == CacheOutcome.Hit || outcome.Repository is null);

    /// <summary>Names the request's span (started by ASP.NET Core, parented by the client's traceparent) after what the request was.</summary>
    private static void Describe(Activity? span, HttpContext ctx, RequestOutcome outcome)
    {
        // ASP.NET Core makes an activity for every request; tags are only worth their allocations when spans are exported.
        if (span is null || !span.IsAllDataRequested || !Tracing.Source.HasListeners()) return;
        var kind = outcome.Kind ?? "other";
        span.DisplayName = $"{ctx.Request.Method} {kind}";
        // The HTTP attributes (method, path, status) are OpenTelemetry's ASP.NET Core instrumentation's.
        span.SetTag("cacheregistry.kind", kind);
        if (outcome.Repository is not null) span.SetTag("cacheregistry.repository", outcome.Repository).SetTag("cacheregistry.reference", outcome.Reference);
        if (outcome.Cache is { } cache) span.SetTag("cacheregistry.outcome", cache.ToString().ToLowerInvariant());
        if (outcome.Endpoint is not null) span.SetTag("cacheregistry.upstream.endpoint", outcome.Endpoint);
        if (outcome.Bytes > 0) span.SetTag("cacheregistry.bytes", outcome.Bytes);
        if (outcome.Error is not null) span.SetStatus(ActivityStatusCode.Error, outcome.Error);
    }

    /// <summary>The request line's fields beyond method, path, status and time (Serilog's request logging writes the line).</summary>
    private void DescribeLine(RequestOutcome outcome)
    {
        if (outcome.Repository is not null)
        {
            requestLine.Set("Outcome", outcome.Cache?.ToString().ToLowerInvariant() ?? "-");
            requestLine.Set("Repository", outcome.Repository);
            requestLine.Set("Reference", outcome.Reference ?? "-");
            if (outcome.Endpoint is not null) requestLine.Set("Endpoint", outcome.Endpoint);
            requestLine.Set("Bytes", outcome.Bytes);
        }
        if (outcome.Error is not null) requestLine.Set("Error", outcome.Error);
    }

    private static void RejectHostileTarget(HttpContext ctx)
    {
        var raw = (ctx.Features.Get<IHttpRequestFeature>()?.RawTarget ?? ctx.Request.Path.Value ?? "").AsSpan();
        var query = raw.IndexOf('?');
        var path = query < 0 ? raw : raw[..query];
        if (path.Contains("..", StringComparison.Ordinal) || path.Contains("%2e", StringComparison.OrdinalIgnoreCase)
            || path.Contains("%2f", StringComparison.OrdinalIgnoreCase) || path.Contains("%5c", StringComparison.OrdinalIgnoreCase)
            || path.Contains('\\') || path.Contains("//", StringComparison.Ordinal))
            throw RegistryError.NameInvalid("the request path contains '..', an encoded '.', '/' or '\\', or an empty segment");
    }

    public static async Task WriteErrorAsync(HttpContext ctx, RegistryError e)
    {
        ctx.Response.StatusCode = e.Status;
        ctx.Response.ContentType = "application/json";
        if (e.RetryAfterSeconds is { } retry) ctx.Response.Headers.RetryAfter = retry.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (e.UnsatisfiedSize is { } size) ctx.Response.Headers.ContentRange = $"bytes */{size}";
        if (e.Challenge is { } challenge) ctx.Response.Headers.WWWAuthenticate = challenge;
        var body = JsonSerializer.SerializeToUtf8Bytes(new ErrorBody([new ErrorEntry(e.Code, e.Message, e.Detail)]), RegistryJson.Relaxed.ErrorBody);
        ctx.Response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(ctx.Request.Method)) await ctx.Response.Body.WriteAsync(body);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "unexpected failure on {Path} (request {RequestId})")]
        public static partial void Unexpected(ILogger logger, Exception e, string path, string requestId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "aborted response to {Path} mid-body: {Reason}")]
        public static partial void AbortedMidBody(ILogger logger, string path, string reason);
    }
}

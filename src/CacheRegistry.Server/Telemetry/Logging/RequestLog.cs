using Serilog.AspNetCore;
using Serilog.Events;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// One line per request, written by Serilog's request-logging middleware under its own category,
/// <c>Serilog.AspNetCore.RequestLoggingMiddleware</c> (so the request line's level is set there). The registry
/// middleware decides whether a request's line is written — misses, stale answers and failures
/// always, routine ones (hits, pings, probes, scrapes) as <c>Logging:HitSampling</c> says — and
/// only then pays for its fields; a line not taken is logged at Verbose, which is off unless asked for.
/// </summary>
internal sealed class RequestLog(HitLogSampling sampling, Serilog.ILogger serilog)
{
    private const string Message = "{RequestMethod} {RequestPath} {StatusCode} {Elapsed:0.0}ms";
    private static readonly object TakenKey = new();

    /// <summary>The category the middleware writes under (it names itself on the logger it is given).</summary>
    public const string Category = "Serilog.AspNetCore.RequestLoggingMiddleware";
    private readonly Serilog.ILogger _logger = serilog.ForContext(Serilog.Core.Constants.SourceContextPropertyName, Category);

    /// <summary>Whether this request's line is written; <paramref name="routine"/> lines are sampled.</summary>
    public bool Take(HttpContext ctx, bool routine)
    {
        var taken = _logger.IsEnabled(LogEventLevel.Information) && (!routine || sampling.Take());
        if (taken) ctx.Items[TakenKey] = true;
        return taken;
    }

    public void Configure(RequestLoggingOptions options)
    {
        options.Logger = serilog;
        options.MessageTemplate = Message;
        options.IncludeQueryInRequestPath = true;
        options.GetLevel = (ctx, _, _) => ctx.Items.ContainsKey(TakenKey) ? LogEventLevel.Information : LogEventLevel.Verbose;
    }
}

using Serilog;
using Serilog.Filters;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// The server's logs: Serilog, one line per event on stdout, as text (<c>Logging:Format=text</c>,
/// the default) or JSON. Levels come from <c>Serilog:MinimumLevel</c> (Serilog.Settings.Configuration),
/// which follows changes of a <c>--config</c> file without a restart. Lines are formatted and written
/// by the async sink's background worker: a request never waits for the console, and when the
/// console cannot keep up lines are dropped (and counted in <c>cacheregistry_log_dropped_total</c>)
/// rather than requests slowed or memory grown.
/// </summary>
internal static class LogSetup
{
    /// <summary>Lines the async sink holds before it drops new ones.</summary>
    public const int QueueCapacity = 10_000;

    public static void AddServerLogging(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var json = string.Equals(configuration["Logging:Format"], "json", StringComparison.OrdinalIgnoreCase);
        builder.Services.AddSerilog((_, logger) => logger
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext()
            // A start that fails (a port in use) is reported by the command line in one line, not as a stack trace here.
            .Filter.ByExcluding(Matching.FromSource("Microsoft.Extensions.Hosting.Internal.Host"))
            .WriteTo.Async(sink => sink.Console(LineTemplates.For(json)), bufferSize: QueueCapacity, blockWhenFull: false, monitor: LogQueue.Instance));
    }
}

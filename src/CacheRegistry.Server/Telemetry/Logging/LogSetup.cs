using Serilog;
using Serilog.Extensions.Logging;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// The server's logs: Serilog behind Microsoft.Extensions.Logging, one line per event on stdout,
/// as text (<c>Logging:Format=text</c>, the default) or JSON. Levels per category come from the
/// standard <c>Logging:LogLevel</c> keys, which take effect without a restart when a configuration
/// file changes. Lines are formatted and written on a background thread, so a request never waits
/// for the console.
/// </summary>
internal static class LogSetup
{
    public static void AddServerLogging(this ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();
        // A start that fails (a port in use) is reported by the command line in one line, not as a stack trace here.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        var format = configuration["Logging:Format"];
        var formatter = string.Equals(format, "json", StringComparison.OrdinalIgnoreCase) ? (ILineFormatter)new JsonLineFormatter() : new TextLineFormatter();
        // Made by the container, so its disposal at shutdown writes out what is still queued.
        logging.Services.AddSingleton<ILoggerProvider>(_ => new SerilogLoggerProvider(new LoggerConfiguration()
            .MinimumLevel.Verbose() // the Logging:LogLevel filters decide
            .WriteTo.Sink(new BackgroundSink(Console.OpenStandardOutput(), formatter))
            .CreateLogger(), dispose: true));
    }
}

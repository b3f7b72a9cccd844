using System.Globalization;
using Serilog.Events;
using Serilog.Parsing;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>The pieces of a log event both line formats use.</summary>
internal static class LogEventParts
{
    /// <summary>Properties that name where an event comes from rather than what it says.</summary>
    public const string Category = "SourceContext", EventId = "EventId", RequestId = "RequestId";

    public static string Timestamp(LogEvent e) => e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string ShortLevel(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose => "trace",
        LogEventLevel.Debug => "debug",
        LogEventLevel.Information => "info",
        LogEventLevel.Warning => "warn",
        LogEventLevel.Error => "error",
        _ => "fatal",
    };

    public static string? Text(LogEvent e, string property) =>
        e.Properties.TryGetValue(property, out var v) && v is ScalarValue { Value: { } s } ? Convert.ToString(s, CultureInfo.InvariantCulture) : null;

    /// <summary>The message with its values in place; strings as they are, not quoted (Serilog's default).</summary>
    public static void RenderMessage(LogEvent e, TextWriter output)
    {
        foreach (var token in e.MessageTemplate.Tokens)
        {
            if (token is PropertyToken p && e.Properties.TryGetValue(p.PropertyName, out var value) && value is ScalarValue { Value: string s })
                output.Write(s);
            else
                token.Render(e.Properties, output, CultureInfo.InvariantCulture);
        }
    }
}

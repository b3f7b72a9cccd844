using Serilog.Events;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary><c>2026-11-22T10:00:00.123Z info RegistryMiddleware: GET /v2/… 200 hit …</c>, the exception on the lines after.</summary>
internal sealed class TextLineFormatter : ILineFormatter
{
    public void Format(LogEvent e, TextWriter output)
    {
        output.Write(LogEventParts.Timestamp(e));
        output.Write(' ');
        output.Write(LogEventParts.ShortLevel(e.Level));
        output.Write(' ');
        var category = LogEventParts.Text(e, LogEventParts.Category);
        if (category is not null)
        {
            output.Write(category.AsSpan(category.LastIndexOf('.') + 1));
            output.Write(": ");
        }
        LogEventParts.RenderMessage(e, output);
        if (e.Exception is { } x)
        {
            output.Write('\n');
            output.Write(x.ToString());
        }
    }
}

using Serilog.Events;
using Serilog.Formatting.Json;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// One JSON object per line: <c>timestamp</c> (UTC), <c>level</c>, <c>category</c>,
/// <c>message</c>, <c>event_id</c>, <c>trace_id</c>, <c>span_id</c>, <c>request_id</c>,
/// <c>exception</c> when there is one, then the message's own fields (<c>Status</c>,
/// <c>Repository</c>…) by name.
/// </summary>
internal sealed class JsonLineFormatter : ILineFormatter
{
    private static readonly JsonValueFormatter Values = new(typeTagName: null);

    public void Format(LogEvent e, TextWriter output)
    {
        output.Write("{\"timestamp\":\"");
        output.Write(LogEventParts.Timestamp(e));
        output.Write("\",\"level\":\"");
        output.Write(LogEventParts.ShortLevel(e.Level));
        output.Write('"');
        Field(output, "category", LogEventParts.Text(e, LogEventParts.Category));
        using (var message = new StringWriter())
        {
            LogEventParts.RenderMessage(e, message);
            Field(output, "message", message.ToString());
        }
        if (e.Properties.TryGetValue(LogEventParts.EventId, out var id) && id is StructureValue s && s.Properties.FirstOrDefault(p => p.Name == "Id")?.Value is { } number)
        {
            output.Write(",\"event_id\":");
            Values.Format(number, output);
        }
        if (e.TraceId is { } trace) Field(output, "trace_id", trace.ToHexString());
        if (e.SpanId is { } span) Field(output, "span_id", span.ToHexString());
        Field(output, "request_id", LogEventParts.Text(e, LogEventParts.RequestId));
        Field(output, "exception", e.Exception?.ToString());
        foreach (var (name, value) in e.Properties)
        {
            if (name is LogEventParts.Category or LogEventParts.EventId or LogEventParts.RequestId) continue;
            output.Write(',');
            JsonValueFormatter.WriteQuotedJsonString(name, output);
            output.Write(':');
            Values.Format(value, output);
        }
        output.Write('}');
    }

    private static void Field(TextWriter output, string name, string? value)
    {
        if (value is null) return;
        output.Write(",\"");
        output.Write(name);
        output.Write("\":");
        JsonValueFormatter.WriteQuotedJsonString(value, output);
    }
}

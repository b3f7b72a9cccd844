using Serilog.Formatting;
using Serilog.Templates;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// The two line formats, as Serilog.Expressions templates. Text:
/// <c>2026-11-22T10:00:00.123Z info RequestLoggingMiddleware: GET /v2/… 200 1.2ms hit repo=… ref=… upstream=… bytes=…</c>.
/// JSON: one object per line with <c>timestamp</c>, <c>level</c>, <c>category</c>, <c>message</c>,
/// <c>event_id</c>, <c>trace_id</c>, <c>span_id</c>, <c>request_id</c>, <c>exception</c>, then the
/// event's own fields by name; fields without a value are left out.
/// </summary>
internal static class LineTemplates
{
    private const string Timestamp = "ToString(UtcDateTime(@t), 'yyyy-MM-ddTHH:mm:ss.fffZ')";
    private const string Level = "if @l = 'Information' then 'info' else if @l = 'Warning' then 'warn' else if @l = 'Error' then 'error' "
        + "else if @l = 'Debug' then 'debug' else if @l = 'Verbose' then 'trace' else 'fatal'";
    private const string Category = "Substring(SourceContext, LastIndexOf(SourceContext, '.') + 1)";
    // A request line's cache fields, after the message (the registry middleware sets them on registry requests only).
    private const string RequestFields = "{#if StatusCode is not null and Outcome is not null} {Outcome} repo={Repository} ref={Reference}"
        + "{#if Endpoint is not null} upstream={Endpoint}{#end} bytes={Bytes}{#end}{#if StatusCode is not null and Error is not null} error={Error}{#end}";

    public static ITextFormatter For(bool json) => json ? Json : Text;

    private static readonly ExpressionTemplate Text = new(
        "{" + Timestamp + "} {" + Level + "} {#if SourceContext is not null}{" + Category + "}: {#end}{@m}" + RequestFields + "\n{#if @x is not null}{@x}\n{#end}");

    private static readonly ExpressionTemplate Json = new(
        "{ {timestamp: " + Timestamp + ", level: " + Level + ", category: SourceContext, message: @m, event_id: EventId.Id, "
        + "trace_id: @tr, span_id: @sp, request_id: RequestId, exception: @x, ..rest()} }\n");
}

using Serilog.Events;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>Writes one log event as one line (no trailing newline; the sink adds it).</summary>
internal interface ILineFormatter
{
    void Format(LogEvent e, TextWriter output);
}

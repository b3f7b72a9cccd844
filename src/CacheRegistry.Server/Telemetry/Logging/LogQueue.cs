using Serilog.Sinks.Async;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>What the async log sink has dropped (the console could not keep up), for <c>cacheregistry_log_dropped_total</c>.</summary>
internal sealed class LogQueue : IAsyncLogEventSinkMonitor
{
    public static readonly LogQueue Instance = new();
    private volatile IAsyncLogEventSinkInspector? _inspector;

    public long Dropped => _inspector?.DroppedMessagesCount ?? 0;

    public void StartMonitoring(IAsyncLogEventSinkInspector inspector) => _inspector = inspector;

    public void StopMonitoring(IAsyncLogEventSinkInspector inspector) => _inspector = null;
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using CacheRegistry.Telemetry;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text exposition format 0.0.4, written here because no
/// Prometheus exporter package is available: a <see cref="MeterListener"/> keeps the cache's own
/// instruments (this instance's meter only), this app's ASP.NET Core meters, and the process-wide
/// runtime and HttpClient meters.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";
    private static readonly HashSet<string> ProcessMeters = new(StringComparer.Ordinal) { "System.Runtime", "System.Net.Http", "System.Net.NameResolution" };

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, MetricFamily> _families = new();
    private readonly Lock _scrape = new();

    public PrometheusExporter(CacheMetrics metrics, IMeterFactory meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            var meter = instrument.Meter;
            var ours = meter == metrics.Meter
                || (meter.Scope == meters && meter.Name.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal))
                || (meter.Scope is null && ProcessMeters.Contains(meter.Name));
            if (!ours) return;
            var family = _families.GetOrAdd(instrument, i => new MetricFamily(i));
            listener.EnableMeasurementEvents(instrument, family);
        };
        _listener.SetMeasurementEventCallback<long>((_, v, tags, state) => ((MetricFamily)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<int>((_, v, tags, state) => ((MetricFamily)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<double>((_, v, tags, state) => ((MetricFamily)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<float>((_, v, tags, state) => ((MetricFamily)state!).Record(v, tags));
        _listener.MeasurementsCompleted = (instrument, _) => _families.TryRemove(instrument, out MetricFamily? _);
        _listener.Start();
    }

    public string Scrape()
    {
        lock (_scrape)
        {
            foreach (var family in _families.Values) family.ClearObserved();
            _listener.RecordObservableInstruments();
            var text = new StringBuilder(16 * 1024);
            // Two instruments may map to one name (a meter seen twice): the first one wins, so the output stays valid.
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
                if (written.Add(family.Name)) family.Write(text);
            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();
}

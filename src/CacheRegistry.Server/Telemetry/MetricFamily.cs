using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// One instrument's series (one per label set) as Prometheus sees it: a counter, a gauge or a
/// histogram, with its exposition name made from the OpenTelemetry name and unit.
/// </summary>
internal sealed class MetricFamily
{
    // OpenTelemetry's default boundaries are for milliseconds; these suit instruments in seconds.
    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
    private static readonly double[] DefaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly ConcurrentDictionary<SeriesKey, Series> _series = new();
    private readonly double[] _bounds = [];

    public MetricFamily(Instrument instrument)
    {
        Instrument = instrument;
        var type = instrument.GetType();
        var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        Kind = definition == typeof(Histogram<>) ? "histogram"
            : definition == typeof(Counter<>) || definition == typeof(ObservableCounter<>) ? "counter"
            : "gauge"; // gauges and up-down counters, observable or not
        IsSet = instrument.IsObservable;
        Name = ExpositionName(instrument.Name, instrument.Unit, Kind == "counter");
        // dotnet.timer.count is a gauge; as "_count" it would read as part of a histogram.
        if (Kind == "gauge" && Name.EndsWith("_count", StringComparison.Ordinal)) Name += "_current";
        if (Kind == "histogram")
            _bounds = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray()
                ?? (instrument.Unit == "s" ? SecondsBuckets : DefaultBuckets);
    }

    public Instrument Instrument { get; }
    public string Name { get; }
    public string Kind { get; }
    /// <summary>Observable instruments report their current value at each scrape; the others add up.</summary>
    public bool IsSet { get; }

    /// <summary>Prometheus conventions: base unit as a suffix, <c>_total</c> on counters, [a-zA-Z0-9_:] only.</summary>
    public static string ExpositionName(string name, string? unit, bool counter)
    {
        var sb = new StringBuilder(name.Length + 16);
        foreach (var c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c == ':' ? c : '_');
        var suffix = unit switch { "s" => "_seconds", "By" => "_bytes", "ms" => "_milliseconds", _ => "" };
        if (suffix.Length > 0 && !sb.ToString().EndsWith(suffix, StringComparison.Ordinal)) sb.Append(suffix);
        if (counter && !sb.ToString().EndsWith("_total", StringComparison.Ordinal)) sb.Append("_total");
        return sb.ToString();
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Instruments with more tags than a key holds keep the first ones (none of those exported has more).
        var key = new SeriesKey(tags.Length <= SeriesKey.MaxTags ? tags : tags[..SeriesKey.MaxTags]);
        if (!_series.TryGetValue(key, out var series)) series = _series.GetOrAdd(key, k => new Series(Labels(k.Sorted()), _bounds.Length));
        lock (series)
        {
            if (Kind == "histogram")
            {
                var i = 0;
                while (i < _bounds.Length && value > _bounds[i]) i++;
                series.Buckets![i]++;
                series.Sum += value;
                series.Count++;
            }
            else if (IsSet)
                series.Value = value;
            else
                series.Value += value;
        }
    }

    /// <summary>Observable values are reported afresh at every scrape: a series no longer reported goes.</summary>
    public void ClearObserved()
    {
        if (IsSet) _series.Clear();
    }

    public void Write(StringBuilder text)
    {
        if (_series.IsEmpty) return;
        if (Instrument.Description is { Length: > 0 } help) text.Append("# HELP ").Append(Name).Append(' ').Append(EscapeHelp(help)).Append('\n');
        text.Append("# TYPE ").Append(Name).Append(' ').Append(Kind).Append('\n');
        foreach (var series in _series.Values.OrderBy(s => s.Labels, StringComparer.Ordinal))
        {
            var labels = series.Labels;
            lock (series)
            {
                if (Kind != "histogram")
                {
                    Sample(text, Name, labels, series.Value);
                    continue;
                }
                long cumulative = 0;
                for (var i = 0; i < _bounds.Length; i++)
                {
                    cumulative += series.Buckets![i];
                    Sample(text, Name + "_bucket", Join(labels, "le=\"" + Number(_bounds[i]) + "\""), cumulative);
                }
                Sample(text, Name + "_bucket", Join(labels, "le=\"+Inf\""), series.Count);
                Sample(text, Name + "_sum", labels, series.Sum);
                Sample(text, Name + "_count", labels, series.Count);
            }
        }
    }

    private static void Sample(StringBuilder text, string name, string labels, double value)
    {
        text.Append(name);
        if (labels.Length > 0) text.Append('{').Append(labels).Append('}');
        text.Append(' ').Append(Number(value)).Append('\n');
    }

    private static string Join(string labels, string more) => labels.Length == 0 ? more : labels + "," + more;

    public static string Number(double v) => v switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(v) => "NaN",
        _ => v.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The exposition text of a label set sorted by name: names made valid, values escaped.</summary>
    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> sorted)
    {
        if (sorted.Length == 0) return "";
        var sb = new StringBuilder();
        foreach (var (key, value) in sorted)
        {
            if (sb.Length > 0) sb.Append(',');
            foreach (var c in key) sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
            sb.Append("=\"");
            foreach (var c in Convert.ToString(value, CultureInfo.InvariantCulture) ?? "")
                sb.Append(c switch { '\\' => "\\\\", '"' => "\\\"", '\n' => "\\n", _ => c.ToString() });
            sb.Append('"');
        }
        return sb.ToString();
    }

    private static string EscapeHelp(string help) => help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private sealed class Series(string labels, int bounds)
    {
        public readonly string Labels = labels;
        public double Value;
        public double Sum;
        public long Count;
        public long[]? Buckets = bounds > 0 ? new long[bounds + 1] : null;
    }
}

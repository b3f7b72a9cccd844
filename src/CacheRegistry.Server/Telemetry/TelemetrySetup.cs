using CacheRegistry.Telemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// OpenTelemetry, owned by the host (<c>AddOpenTelemetry</c>): it starts the providers with the
/// server and flushes them when it stops. With <c>Registry:Telemetry:OtlpEndpoint</c> set, spans and
/// metrics go to that collector over OTLP: ASP.NET Core's request spans (parented by the client's
/// W3C traceparent) and the cache's own (upstream calls, token fetches, fills, store reads and
/// writes), HttpClient's span for each HTTP request sent (its id goes to the upstream in the
/// traceparent header); and the cache's meter with ASP.NET Core's, Kestrel's, HttpClient's and the
/// runtime's built-in meters. <c>/metrics</c> is served whether or not a collector is set.
/// </summary>
internal static class TelemetrySetup
{
    /// <summary>The framework's built-in meters exported beside the cache's own.</summary>
    public static readonly string[] BuiltInMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.MemoryPool",
        "System.Runtime", "System.Net.Http", "System.Net.NameResolution",
    ];

    /// <summary>Label sets kept per metric; the cache's labels are bounded (kinds, results, configured registries and endpoints, statuses).</summary>
    public const int MaxSeriesPerMetric = 512;

    // The runtime's gauges named *.count would read as parts of a histogram in Prometheus (promtool refuses them): they get _current.
    private static readonly string[] CountGauges = ["dotnet.assembly.count", "dotnet.process.cpu.count", "dotnet.thread_pool.thread.count", "dotnet.timer.count"];

    public static void AddServerTelemetry(this IServiceCollection services, TelemetryOptions options)
    {
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(options.ServiceName, serviceInstanceId: Environment.MachineName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(CacheMetrics.MeterName).AddMeter(BuiltInMeters)
                    .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                // One view for every instrument: the four gauges' names, and room for 512 label sets per
                // metric rather than the SDK's 2,000 allocated up front (every label here is bounded).
                metrics.AddView(i => new MetricStreamConfiguration
                {
                    Name = CountGauges.Contains(i.Name) ? i.Name + "_current" : null,
                    CardinalityLimit = MaxSeriesPerMetric,
                });
            });
        if (string.IsNullOrEmpty(options.OtlpEndpoint)) return;
        otel.WithTracing(tracing => tracing
                // HttpClient's own spans are the ones whose ids the upstream receives in traceparent.
                .AddSource(Tracing.SourceName, "System.Net.Http")
                .AddAspNetCoreInstrumentation()
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.SampleRatio)))
                .AddOtlpExporter(o =>
                {
                    Configure(o, options, "v1/traces");
                    o.BatchExportProcessorOptions.ScheduledDelayMilliseconds = Interval(options);
                }))
            .WithMetrics(metrics => metrics
                .AddOtlpExporter((o, reader) =>
                {
                    Configure(o, options, "v1/metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = Interval(options);
                }));
    }

    /// <summary>The rules of <c>Registry:Telemetry</c>.</summary>
    internal sealed class Rules : OptionRules<TelemetryOptions>
    {
        protected override void Check(TelemetryOptions o, OptionProblems p)
        {
            if (!string.IsNullOrEmpty(o.OtlpEndpoint) && !(Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
                p.Add($"Registry:Telemetry:OtlpEndpoint = '{o.OtlpEndpoint}': expected an http(s) URL such as http://otel-collector:4318");
            if (o.OtlpProtocol is not ("http/protobuf" or "grpc"))
                p.Add($"Registry:Telemetry:OtlpProtocol = '{o.OtlpProtocol}': expected http/protobuf or grpc");
            if (o.SampleRatio is < 0 or > 1)
                p.Add($"Registry:Telemetry:SampleRatio = {o.SampleRatio}: expected 0 to 1");
            if (o.ExportInterval <= TimeSpan.Zero)
                p.Add($"Registry:Telemetry:ExportInterval = {o.ExportInterval}: expected more than zero");
        }
    }

    private static int Interval(TelemetryOptions o) => (int)Math.Max(1, o.ExportInterval.TotalMilliseconds);

    private static void Configure(OtlpExporterOptions o, TelemetryOptions options, string signalPath)
    {
        var grpc = options.OtlpProtocol == "grpc";
        o.Protocol = grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        // A collector's base URL gets the signal's path for http/protobuf; a full path is kept.
        var uri = new Uri(options.OtlpEndpoint!);
        o.Endpoint = grpc || uri.AbsolutePath != "/" ? uri : new Uri(uri, signalPath);
        o.Headers = options.OtlpHeaders;
        o.TimeoutMilliseconds = 10_000;
    }
}

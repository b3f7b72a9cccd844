using CacheRegistry.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// Sends spans to an OpenTelemetry collector over OTLP when <c>Registry:Telemetry:OtlpEndpoint</c>
/// is set: ASP.NET Core's request spans (parented by the client's W3C traceparent) and the cache's
/// own (upstream calls, token fetches, fills, store reads and writes), and HttpClient's span for
/// each HTTP request sent, whose id goes to the upstream in the traceparent header.
/// </summary>
internal static class TraceExport
{
    public static TracerProvider? Start(TelemetryOptions options)
    {
        if (string.IsNullOrEmpty(options.OtlpEndpoint)) return null;
        return Sdk.CreateTracerProviderBuilder()
            // HttpClient's own spans are the ones whose ids the upstream receives in traceparent.
            .AddSource(Tracing.SourceName, "Microsoft.AspNetCore", "System.Net.Http")
            .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(options.ServiceName, serviceInstanceId: Environment.MachineName))
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.SampleRatio)))
            .AddOtlpExporter(o =>
            {
                o.Protocol = IsGrpc(options) ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                o.Endpoint = Endpoint(options);
                o.Headers = options.OtlpHeaders;
                o.TimeoutMilliseconds = 10_000;
                o.BatchExportProcessorOptions.ScheduledDelayMilliseconds = (int)Math.Max(1, options.ExportInterval.TotalMilliseconds);
            })
            .Build();
    }

    public static void Problems(TelemetryOptions o, List<string> problems)
    {
        if (!string.IsNullOrEmpty(o.OtlpEndpoint) && !(Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
            problems.Add($"Registry:Telemetry:OtlpEndpoint = '{o.OtlpEndpoint}': expected an http(s) URL such as http://otel-collector:4318");
        if (o.OtlpProtocol is not ("http/protobuf" or "grpc"))
            problems.Add($"Registry:Telemetry:OtlpProtocol = '{o.OtlpProtocol}': expected http/protobuf or grpc");
        if (o.SampleRatio is < 0 or > 1)
            problems.Add($"Registry:Telemetry:SampleRatio = {o.SampleRatio}: expected 0 to 1");
        if (o.ExportInterval <= TimeSpan.Zero)
            problems.Add($"Registry:Telemetry:ExportInterval = {o.ExportInterval}: expected more than zero");
    }

    private static bool IsGrpc(TelemetryOptions o) => o.OtlpProtocol == "grpc";

    /// <summary>A collector's base URL gets the traces path for http/protobuf; a full path is kept.</summary>
    private static Uri Endpoint(TelemetryOptions o)
    {
        var uri = new Uri(o.OtlpEndpoint!);
        return IsGrpc(o) || uri.AbsolutePath != "/" ? uri : new Uri(uri, "v1/traces");
    }
}

/// <summary>The running trace export (if any), owned by the service container.</summary>
internal sealed class TraceExportHandle(TracerProvider? provider) : IDisposable
{
    public void Dispose() => provider?.Dispose();
}

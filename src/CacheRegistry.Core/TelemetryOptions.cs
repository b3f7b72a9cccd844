namespace CacheRegistry;

/// <summary><c>Registry:Telemetry</c>: trace export over OTLP, off unless an endpoint is set.</summary>
public sealed class TelemetryOptions
{
    /// <summary>The OpenTelemetry collector: <c>http://otel-collector:4318</c> (http/protobuf) or <c>http://otel-collector:4317</c> (grpc).</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>http/protobuf</c> (the default) or <c>grpc</c>.</summary>
    public string OtlpProtocol { get; set; } = "http/protobuf";

    /// <summary>Headers sent with every export, <c>key=value,key2=value2</c> (a collector's API key).</summary>
    public string? OtlpHeaders { get; set; }

    /// <summary>Share of traces recorded when the client did not decide (a sampled traceparent is always followed).</summary>
    public double SampleRatio { get; set; } = 1.0;

    /// <summary>The <c>service.name</c> of the exported spans.</summary>
    public string ServiceName { get; set; } = "cacheregistry";

    /// <summary>How long finished spans wait before they are sent in one batch.</summary>
    public TimeSpan ExportInterval { get; set; } = TimeSpan.FromSeconds(5);
}

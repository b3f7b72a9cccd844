using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>One span as it arrived: ids in hex, attributes as text.</summary>
public sealed record ReceivedSpan(string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, int StatusCode,
    IReadOnlyDictionary<string, string> Attributes, string Service)
{
    public string? this[string attribute] => Attributes.GetValueOrDefault(attribute);
}

/// <summary>
/// An OTLP trace receiver: <c>POST /v1/traces</c> (http/protobuf) on one port and the gRPC
/// <c>TraceService/Export</c> over cleartext HTTP/2 on another, both decoded by hand from the
/// protobuf wire format, so the tests read exactly what a collector would get.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly SemaphoreSlim _arrived = new(0);

    public string HttpUrl { get; private set; } = "";
    public string GrpcUrl { get; private set; } = "";
    public IReadOnlyList<ReceivedSpan> Spans => _spans.ToArray();
    private readonly ConcurrentQueue<byte[]> _metricExports = new();

    private OtlpReceiver(int httpPort, int grpcPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenLocalhost(httpPort, l => l.Protocols = HttpProtocols.Http1);
            k.ListenLocalhost(grpcPort, l => l.Protocols = HttpProtocols.Http2);
        });
        _app = builder.Build();
        HttpUrl = $"http://127.0.0.1:{httpPort}";
        GrpcUrl = $"http://127.0.0.1:{grpcPort}";
        _app.MapPost("/v1/traces", async (HttpContext ctx) =>
        {
            Accept(await ReadAllAsync(ctx.Request.Body));
            ctx.Response.ContentType = "application/x-protobuf";
        });
        _app.MapPost("/v1/metrics", async (HttpContext ctx) =>
        {
            _metricExports.Enqueue(await ReadAllAsync(ctx.Request.Body));
            ctx.Response.ContentType = "application/x-protobuf";
        });
        _app.MapPost("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", async (HttpContext ctx) =>
        {
            _metricExports.Enqueue(await ReadAllAsync(ctx.Request.Body));
            ctx.Response.ContentType = "application/grpc";
            await ctx.Response.Body.WriteAsync(new byte[5]);
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        _app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", async (HttpContext ctx) =>
        {
            var framed = await ReadAllAsync(ctx.Request.Body);
            Accept(framed.AsSpan(5).ToArray()); // 1 byte compressed flag, 4 bytes length
            ctx.Response.ContentType = "application/grpc";
            await ctx.Response.Body.WriteAsync(new byte[5]); // an empty ExportTraceServiceResponse
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
    }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver(Net.FreePort(), Net.FreePort());
        await receiver._app.StartAsync();
        return receiver;
    }

    /// <summary>Waits until the spans that arrived satisfy <paramref name="done"/>; fails with what did arrive.</summary>
    public async Task<IReadOnlyList<ReceivedSpan>> WaitForAsync(Func<IReadOnlyList<ReceivedSpan>, bool> done, TimeSpan within, string what)
    {
        using var cts = new CancellationTokenSource(within);
        while (!done(Spans))
        {
            try
            {
                await _arrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{what}: not among the {Spans.Count} spans received:\n" + string.Join('\n', Spans.Select(Describe)));
            }
        }
        return Spans;
    }

    /// <summary>Waits until an OTLP metrics export names <paramref name="metric"/> (names are plain UTF-8 strings in the protobuf).</summary>
    public Task WaitForMetricAsync(string metric, TimeSpan within) =>
        Net.WaitUntilAsync(() => Task.FromResult(_metricExports.Any(e => e.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(metric)) >= 0)),
            within, $"an OTLP metrics export naming {metric} (exports received: {_metricExports.Count})");

    public static string Describe(ReceivedSpan s) =>
        $"{s.Name} trace={s.TraceId} span={s.SpanId} parent={s.ParentSpanId} " + string.Join(' ', s.Attributes.Select(a => $"{a.Key}={a.Value}"));

    private void Accept(byte[] request)
    {
        foreach (var span in OtlpDecoder.Spans(request)) _spans.Enqueue(span);
        _arrived.Release();
    }

    private static async Task<byte[]> ReadAllAsync(Stream body)
    {
        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await LoopbackApp.StopAsync(_app);
        _arrived.Dispose();
    }
}

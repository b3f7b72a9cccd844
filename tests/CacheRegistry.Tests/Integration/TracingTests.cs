using System.Security.Cryptography;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Traces over OTLP to a receiver that decodes what arrives: the client's trace context is
/// followed, every upstream call, fill and store access is a child span, and the trace goes on
/// to the upstream in its traceparent header.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class TracingTests
{
    private const int Server = 2, Client = 3; // OTLP SpanKind
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("http/protobuf")]
    [InlineData("grpc")]
    public async Task A_cold_then_warm_pull_is_one_trace_from_the_client_to_the_upstream(string protocol)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.CutOnce; // the fill resumes once
        await using var cache = await CacheServer.StartAsync(upstream.Url,
            "--Registry:Telemetry:OtlpEndpoint=" + (protocol == "grpc" ? receiver.GrpcUrl : receiver.HttpUrl), "--Registry:Telemetry:OtlpProtocol=" + protocol,
            "--Registry:Telemetry:ExportInterval=00:00:00.100", "--Registry:Fill:ResumeBackoff=00:00:00.020");
        using var http = Net.NewHttpClient();
        var trace = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var (manifestParent, blobParent, warmParent) = (NewSpanId(), NewSpanId(), NewSpanId());

        await GetAsync(http, $"{cache.Url}/v2/faulty/manifests/latest", trace, manifestParent);
        Assert.Equal(upstream.Layer, await GetAsync(http, $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}", trace, blobParent));
        var spans = await receiver.WaitForAsync(s => s.Any(x => x.Name == "fill") && s.Any(x => x.Name == "store write"), Bound, "the fill and its commit");

        var manifest = Single(spans, s => s.ParentSpanId == manifestParent);
        Assert.Equal(("GET manifest", Server, trace, "cacheregistry"), (manifest.Name, manifest.Kind, manifest.TraceId, manifest.Service));
        Assert.Equal("miss", manifest["cacheregistry.outcome"]);
        var manifestCall = Single(spans, s => s.ParentSpanId == manifest.SpanId && s.Name == "upstream GET");
        Assert.Equal((new Uri(upstream.Url).Authority, "200"), (manifestCall["server.address"], manifestCall["http.response.status_code"]));

        var blob = Single(spans, s => s.ParentSpanId == blobParent);
        Assert.Equal(("GET blob", trace), (blob.Name, blob.TraceId));
        var fill = Single(spans, s => s.ParentSpanId == blob.SpanId && s.Name == "fill");
        Assert.Equal((upstream.Layer.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), "1", "committed"),
            (fill["cacheregistry.bytes"], fill["cacheregistry.resumes"], fill["cacheregistry.fill.outcome"]));
        Assert.Equal(upstream.LayerDigest, fill["cacheregistry.digest"]);
        Assert.Equal(2, spans.Count(s => s.ParentSpanId == fill.SpanId && s.Name == "upstream GET")); // the cut download and its resume
        Single(spans, s => s.ParentSpanId == fill.SpanId && s.Name == "store write");
        // Metrics go to the same collector: the cache's own and ASP.NET Core's built-in ones.
        await receiver.WaitForMetricAsync("cacheregistry.requests", Bound);
        await receiver.WaitForMetricAsync("http.server.request.duration", Bound);

        // Every upstream request carried the client's trace on, as the exported HTTP client span
        // that sent it, under the cache's span for that upstream call.
        var sent = upstream.Traceparents;
        Assert.Equal(3, sent.Count); // manifest, blob, resumed blob
        Assert.All(sent, t => Assert.StartsWith($"00-{trace}-", t, StringComparison.Ordinal));
        var upstreamCalls = spans.Where(s => s.Name == "upstream GET").Select(s => s.SpanId).ToHashSet();
        var httpSpans = spans.Where(s => s.Kind == Client && upstreamCalls.Contains(s.ParentSpanId)).ToDictionary(s => s.SpanId);
        Assert.All(sent, t => Assert.Equal(new Uri(upstream.Url).Authority, httpSpans[t.Split('-')[2]]["server.address"] + ":" + httpSpans[t.Split('-')[2]]["server.port"]));

        // Warm: read from the store, nothing upstream.
        var warmTrace = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var before = upstream.Traceparents.Count;
        Assert.Equal(upstream.Layer, await GetAsync(http, $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}", warmTrace, warmParent));
        spans = await receiver.WaitForAsync(s => s.Any(x => x.ParentSpanId == warmParent), Bound, "the warm request");
        var warm = Single(spans, s => s.ParentSpanId == warmParent);
        Assert.Equal("hit", warm["cacheregistry.outcome"]);
        Single(spans, s => s.ParentSpanId == warm.SpanId && s.Name == "store read");
        Assert.Equal(before, upstream.Traceparents.Count);
    }

    [Fact]
    public async Task A_failing_upstream_marks_its_span_and_the_request_span_as_errors()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var dead = $"http://127.0.0.1:{Net.FreePort()}";
        await using var cache = await CacheServer.StartAsync(dead,
            "--Registry:Telemetry:OtlpEndpoint=" + receiver.HttpUrl, "--Registry:Telemetry:ExportInterval=00:00:00.100");
        using var http = Net.NewHttpClient();
        using (var answer = await http.GetAsync($"{cache.Url}/v2/library/x/manifests/1"))
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        var spans = await receiver.WaitForAsync(s => s.Any(x => x.Name == "GET manifest"), Bound, "the request span");
        const int error = 2; // OTLP StatusCode
        var request = Single(spans, s => s.Name == "GET manifest");
        Assert.Equal(error, request.StatusCode);
        var call = Single(spans, s => s.ParentSpanId == request.SpanId && s.Name == "upstream GET");
        Assert.Equal((error, new Uri(dead).Authority), (call.StatusCode, call["server.address"]));
        Assert.Equal(request.TraceId, call.TraceId);
    }

    private static string NewSpanId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private static ReceivedSpan Single(IReadOnlyList<ReceivedSpan> spans, Func<ReceivedSpan, bool> match)
    {
        var found = spans.Where(match).ToList();
        Assert.True(found.Count == 1, $"{found.Count} matching spans among:\n" + string.Join('\n', spans.Select(OtlpReceiver.Describe)));
        return found[0];
    }

    private static async Task<byte[]> GetAsync(HttpClient http, string url, string trace, string parent)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("traceparent", $"00-{trace}-{parent}-01");
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync();
    }
}

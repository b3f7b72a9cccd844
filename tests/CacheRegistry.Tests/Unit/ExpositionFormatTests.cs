using System.Diagnostics.Metrics;
using System.Text;
using CacheRegistry.Server.Telemetry;

namespace CacheRegistry.Tests.Unit;

/// <summary>The Prometheus text format written by hand: names, escaping, histograms.</summary>
public sealed class ExpositionFormatTests
{
    [Theory]
    [InlineData("cacheregistry.served", "By", true, "cacheregistry_served_bytes_total")]
    [InlineData("cacheregistry.request.duration", "s", false, "cacheregistry_request_duration_seconds")]
    [InlineData("cacheregistry.requests", "{request}", true, "cacheregistry_requests_total")]
    [InlineData("http.server.active-requests", "{request}", false, "http_server_active_requests")]
    [InlineData("x.total", null, true, "x_total")]
    public void Names_follow_prometheus_conventions(string name, string? unit, bool counter, string expected) =>
        Assert.Equal(expected, MetricFamily.ExpositionName(name, unit, counter));

    [Fact]
    public void Label_values_are_escaped_and_histograms_are_cumulative()
    {
        using var meter = new Meter("test.exposition");
        var histogram = meter.CreateHistogram("t.latency", "s", "a \\ help\nline", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1] });
        var family = new MetricFamily(histogram);
        KeyValuePair<string, object?>[] tags = [new("path.kind", "a\"b\\c\nd")];
        family.Record(0.05, tags);
        family.Record(0.5, tags);
        family.Record(5, tags);
        var text = new StringBuilder();
        family.Write(text);
        Assert.Equal("""
            # HELP t_latency_seconds a \\ help\nline
            # TYPE t_latency_seconds histogram
            t_latency_seconds_bucket{path_kind="a\"b\\c\nd",le="0.1"} 1
            t_latency_seconds_bucket{path_kind="a\"b\\c\nd",le="1"} 2
            t_latency_seconds_bucket{path_kind="a\"b\\c\nd",le="+Inf"} 3
            t_latency_seconds_sum{path_kind="a\"b\\c\nd"} 5.55
            t_latency_seconds_count{path_kind="a\"b\\c\nd"} 3

            """.Replace("\r", "", StringComparison.Ordinal), text.ToString());
    }

    [Fact]
    public void Tags_in_another_order_are_the_same_series()
    {
        using var meter = new Meter("test.order");
        var family = new MetricFamily(meter.CreateCounter<long>("t.requests", "{request}"));
        family.Record(1, [new("kind", "blob"), new("result", "hit")]);
        family.Record(2, [new("result", "hit"), new("kind", "blob")]);
        family.Record(4, [new("result", "miss"), new("kind", "blob")]);
        var text = new StringBuilder();
        family.Write(text);
        Assert.Equal("""
            # TYPE t_requests_total counter
            t_requests_total{kind="blob",result="hit"} 3
            t_requests_total{kind="blob",result="miss"} 4

            """.Replace("\r", "", StringComparison.Ordinal), text.ToString());
    }
}

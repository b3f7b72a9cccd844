using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// The README's metrics table and the instruments the server defines are one list: every
/// instrument is in the table under its Prometheus name, and the table names nothing else.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed partial class MetricsTableTests(UpstreamFixture fx)
{
    [Fact]
    public async Task The_readme_lists_exactly_the_instruments_the_server_defines()
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == Telemetry.CacheMetrics.MeterName)
                    lock (defined) defined.Add(PrometheusName(instrument));
            },
        };
        listener.Start();
        // Every optional instrument on: the size limit's and the availability checks'.
        await using (var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Cache:MaxSize=1GiB", "--Registry:Availability:Enabled=true"))
            await Exposition.ScrapeAsync(cache.Url);

        var readme = await File.ReadAllTextAsync(RepoFiles.Path("README.md"));
        var listed = readme.Split('\n').Where(l => l.StartsWith("| `cacheregistry_", StringComparison.Ordinal))
            .SelectMany(l => MetricName().Matches(l.Split('|')[1]).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        lock (defined)
        {
            Assert.True(defined.SetEquals(listed),
                $"defined, not in the README: {string.Join(", ", defined.Except(listed))}; in the README, not defined: {string.Join(", ", listed.Except(defined))}");
        }
    }

    /// <summary>The name the OpenTelemetry Prometheus exporter gives an instrument: dots to underscores, the unit, _total for counters.</summary>
    private static string PrometheusName(Instrument instrument)
    {
        var name = instrument.Name.Replace('.', '_');
        var unit = instrument.Unit switch
        {
            "s" => "_seconds",
            "By" => "_bytes",
            "By/s" => "_bytes_per_second",
            _ => "",
        };
        if (!name.EndsWith(unit, StringComparison.Ordinal)) name += unit;
        var counter = instrument.GetType().Name.StartsWith("Counter", StringComparison.Ordinal) || instrument.GetType().Name.StartsWith("ObservableCounter", StringComparison.Ordinal);
        return counter ? name + "_total" : name;
    }

    [GeneratedRegex(@"cacheregistry_\w+")]
    private static partial Regex MetricName();
}

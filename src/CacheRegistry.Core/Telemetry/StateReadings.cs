using System.Diagnostics.Metrics;

namespace CacheRegistry.Telemetry;

/// <summary>
/// Where the state gauges of <see cref="CacheMetrics.ObserveState"/> read their values at each
/// scrape: state the server keeps anyway (endpoint health, rate-limit and quota budgets, the stores'
/// last probe), filled in by the server, which knows where it lives.
/// </summary>
public sealed record StateReadings(
    Func<IEnumerable<Measurement<int>>> EndpointsUp,
    Func<IEnumerable<Measurement<long>>> RateLimitsRemaining,
    Func<IEnumerable<Measurement<long>>> QuotasRemaining,
    Func<long> LogLinesDropped,
    Func<IEnumerable<Measurement<long>>> StoreBytes,
    Func<IEnumerable<Measurement<long>>> StoreBlobs,
    Func<IEnumerable<Measurement<int>>> StoresUp)
{
    /// <summary>Registry:Cache:MaxSize, when set.</summary>
    public long? StoreLimit { get; init; }

    /// <summary>Each endpoint's measured blob bytes per second on one connection, once it has one.</summary>
    public Func<IEnumerable<Measurement<double>>>? EndpointThroughput { get; init; }

    /// <summary>Recently pulled tags by outcome, when Registry:Availability is on.</summary>
    public Func<IEnumerable<Measurement<int>>>? ImageAvailability { get; init; }
}

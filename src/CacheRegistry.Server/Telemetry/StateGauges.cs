using System.Diagnostics.Metrics;
using System.Globalization;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// What the state gauges (defined in <see cref="CacheMetrics.ObserveState"/>) read: upstream
/// endpoint health and Docker Hub's rate-limit budget (at each scrape), and the stores' size and
/// health (asked just before each scrape, bounded, since a store may hang).
/// </summary>
internal sealed class StateGauges
{
    private static readonly TimeSpan ProbeBound = TimeSpan.FromSeconds(2);
    private readonly IReadOnlyList<IHealthProbe> _stores;
    private readonly IBlobIndex _index;
    private volatile Snapshot _last = new(null, null, []);

    private readonly TimeProvider _time;

    private sealed record Snapshot(long? Blobs, long? Bytes, IReadOnlyList<(string Store, bool Up)> Stores);

    public StateGauges(CacheMetrics metrics, UpstreamSet upstreams, IEnumerable<IHealthProbe> stores, IBlobIndex index, RegistryOptions options,
        Maintenance.AvailabilityChecker availability, TimeProvider time)
    {
        _time = time;
        _stores = stores.ToList();
        _index = index;
        metrics.ObserveState(new StateReadings(
            () => Endpoints(upstreams),
            () => RateLimits(upstreams),
            () => upstreams.All.Where(u => u.Quota is not null).Select(u => new Measurement<long>(u.Quota!.Remaining, new KeyValuePair<string, object?>("registry", u.Name))),
            () => Logging.LogQueue.Instance.Dropped,
            () => Value(_last.Bytes),
            () => Value(_last.Blobs),
            () => _last.Stores.Select(s => new Measurement<int>(s.Up ? 1 : 0, new KeyValuePair<string, object?>("store", s.Store))))
        {
            StoreLimit = options.Cache.MaxSize?.Bytes,
            EndpointThroughput = () => upstreams.All.SelectMany(u => u.Endpoints.Where(e => e.Throughput is not null).Select(e => new Measurement<double>(e.Throughput!.Value,
                new KeyValuePair<string, object?>("registry", u.Name), new KeyValuePair<string, object?>("endpoint", e.Authority)))),
            ImageAvailability = !options.Availability.Enabled ? null : () => availability.Counts.Select(c => new Measurement<int>(c.Value,
                new KeyValuePair<string, object?>("registry", c.Key.Registry), new KeyValuePair<string, object?>("outcome", c.Key.Outcome))),
        });
    }

    /// <summary>Asks the stores for their totals and health, each bounded, before a scrape.</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        using var bound = new Common.Deadline(ProbeBound, _time, ct);
        var probes = _stores.Select(async s => (Label(s.Name), Up: await s.ProblemAsync(bound.Token) is null)).ToList();
        (long Blobs, long Bytes)? totals = null;
        try
        {
            totals = await _index.TotalsAsync(bound.Token);
        }
        catch (Exception e) when (e is StoreUnavailableException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            // The index is down: no size this time; store_up says which store.
        }
        _last = new Snapshot(totals?.Blobs, totals?.Bytes, await Task.WhenAll(probes));
    }

    /// <summary>"metadata (sqlite /data/metadata.db)" is "metadata": a label says which store, the log says where.</summary>
    private static string Label(string storeName)
    {
        // A label value without spaces: blobs, metadata, local_disk.
        var paren = storeName.IndexOf(" (", StringComparison.Ordinal);
        return (paren < 0 ? storeName : storeName[..paren]).Replace(' ', '_');
    }

    private static IEnumerable<Measurement<long>> Value(long? value) => value is long v ? [new Measurement<long>(v)] : [];

    private static IEnumerable<Measurement<int>> Endpoints(UpstreamSet upstreams) =>
        upstreams.All.SelectMany(u => u.Endpoints.Select(e => new Measurement<int>(e.ConsecutiveFailures == 0 ? 1 : 0,
            new KeyValuePair<string, object?>("registry", u.Name), new KeyValuePair<string, object?>("endpoint", e.Authority))));

    private static IEnumerable<Measurement<long>> RateLimits(UpstreamSet upstreams)
    {
        foreach (var u in upstreams.All)
        {
            // "76;w=21600": the count before the policy.
            var reported = u.Endpoints.Select(e => e.RateLimitRemaining).LastOrDefault(r => r is not null);
            if (reported is not null && long.TryParse(reported.Split(';')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var left))
                yield return new Measurement<long>(left, new KeyValuePair<string, object?>("registry", u.Name));
        }
    }
}

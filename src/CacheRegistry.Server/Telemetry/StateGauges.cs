using System.Diagnostics.Metrics;
using System.Globalization;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// Gauges of state the cache already keeps: upstream endpoint health and Docker Hub's rate-limit
/// budget (read at each scrape), and the stores' size and health (asked just before each scrape,
/// bounded, since a store may hang).
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
        var meter = metrics.Meter;
        meter.CreateObservableGauge("cacheregistry.upstream.endpoint.up", () => Endpoints(upstreams), null,
            "1 while the endpoint answers, 0 after a failed request until one succeeds");
        meter.CreateObservableGauge("cacheregistry.upstream.ratelimit.remaining", () => RateLimits(upstreams), "{request}",
            "Pulls left in the upstream's rate-limit window (Docker Hub's ratelimit-remaining), as last reported");
        meter.CreateObservableGauge("cacheregistry.upstream.quota.remaining",
            () => upstreams.All.Where(u => u.Quota is not null).Select(u => new Measurement<long>(u.Quota!.Remaining, new KeyValuePair<string, object?>("registry", u.Name))),
            "By", "Bytes the upstream may still send in this quota period (Registry:Upstreams:<host>:Quota)");
        meter.CreateObservableCounter("cacheregistry.log.dropped", () => Logging.LogQueue.Instance.Dropped, "{line}",
            "Log lines dropped because the console could not keep up");
        meter.CreateObservableGauge("cacheregistry.store", () => Value(_last.Bytes), "By", "Bytes of blobs stored");
        meter.CreateObservableGauge("cacheregistry.store.blobs", () => Value(_last.Blobs), "{blob}", "Blobs stored");
        if (ByteSize.Parse(options.Cache.MaxSize) is long limit)
            meter.CreateObservableGauge("cacheregistry.store.limit", () => limit, "By", "The size limit (Registry:Cache:MaxSize)");
        meter.CreateObservableGauge("cacheregistry.store.up",
            () => _last.Stores.Select(s => new Measurement<int>(s.Up ? 1 : 0, new KeyValuePair<string, object?>("store", s.Store))), null,
            "1 when the store answered its last probe, 0 when not");
        if (options.Availability.Enabled)
            meter.CreateObservableGauge("cacheregistry.image.availability", () => availability.Counts.Select(c => new Measurement<int>(c.Value,
                    new KeyValuePair<string, object?>("registry", c.Key.Registry), new KeyValuePair<string, object?>("outcome", c.Key.Outcome))), "{image}",
                "Tags pulled within Registry:Availability:Window by the outcome of their last check upstream (as of the last round)");
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

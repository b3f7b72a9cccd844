using System.Diagnostics.Metrics;

namespace CacheRegistry.Telemetry;

/// <summary>
/// The cache's own instruments, all defined here, on one meter per running instance (so two caches in one process
/// never mix their numbers). Names and units follow OpenTelemetry; the Prometheus exporter turns
/// <c>cacheregistry.served</c> in bytes into <c>cacheregistry_served_bytes_total</c>. Label values
/// are bounded: kinds, outcomes, configured registries and endpoints, status codes — never a
/// repository or a digest.
/// </summary>
public sealed class CacheMetrics : IDisposable
{
    public const string MeterName = "CacheRegistry";

    /// <summary>For parts built outside a running server (tests, CLI): recorded, never exported.</summary>
    public static CacheMetrics Unobserved { get; } = new(null);

    private readonly bool _ownsMeter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _firstByte;
    private readonly Counter<long> _served;
    private readonly Counter<long> _upstreamBytes;
    private readonly Counter<long> _upstreamRequests;
    private readonly UpDownCounter<long> _fillsInFlight;
    private readonly UpDownCounter<long> _fillsQueued;
    private readonly Counter<long> _fillResumes;
    private readonly Counter<long> _replicaFills;
    private readonly Counter<long> _fillFailures;
    private readonly Counter<long> _evictions;
    private readonly Counter<long> _pulls;
    private readonly Counter<long> _availabilityChecks;
    private readonly Counter<long> _logins;
    private readonly Counter<long> _segments;
    private readonly Counter<long> _badBytes;
    private readonly Counter<long> _signatures;
    private readonly Counter<long> _pushes;
    private readonly Counter<long> _pushBytes;

    public CacheMetrics(IMeterFactory? factory)
    {
        _ownsMeter = factory is null;
        Meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _requests = Meter.CreateCounter<long>("cacheregistry.requests", "{request}", "Registry API requests by kind and how they were answered");
        _duration = Meter.CreateHistogram("cacheregistry.request.duration", "s", "Time to answer a registry API request, body included",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] });
        _firstByte = Meter.CreateHistogram("cacheregistry.time_to_first_byte", "s", "Time from request to the first body byte of a blob miss",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _served = Meter.CreateCounter<long>("cacheregistry.served", "By", "Body bytes sent to clients, by where they came from (cache or upstream)");
        _upstreamBytes = Meter.CreateCounter<long>("cacheregistry.upstream", "By", "Body bytes received from upstream registries");
        _upstreamRequests = Meter.CreateCounter<long>("cacheregistry.upstream.requests", "{request}", "Requests sent to upstream endpoints, by answer status");
        _fillsInFlight = Meter.CreateUpDownCounter<long>("cacheregistry.fills.in_flight", "{fill}", "Blob downloads from upstreams running now");
        _fillsQueued = Meter.CreateUpDownCounter<long>("cacheregistry.fills.queued", "{fill}", "Blob downloads waiting for a slot (Registry:Upstreams:<host>:MaxConcurrentFills)");
        _fillResumes = Meter.CreateCounter<long>("cacheregistry.fill.resumes", "{resume}", "Blob downloads resumed after a dropped or stalled upstream connection");
        _replicaFills = Meter.CreateCounter<long>("cacheregistry.fill.from_replica", "{fill}", "Blob fills streamed from another replica's running download instead of the upstream");
        _fillFailures = Meter.CreateCounter<long>("cacheregistry.fill.failures", "{fill}", "Blob downloads that failed, by reason");
        _evictions = Meter.CreateCounter<long>("cacheregistry.evictions", "{blob}", "Blobs removed to keep the store under its size limit");
        _pulls = Meter.CreateCounter<long>("cacheregistry.pulls", "{pull}",
            "Manifest requests by tag or digest: success when answered 2xx, failure when they failed for a reason other than not found");
        _availabilityChecks = Meter.CreateCounter<long>("cacheregistry.availability.checks", "{check}",
            "Availability checks of recently pulled tags against their upstreams, by outcome");
        _logins = Meter.CreateCounter<long>("cacheregistry.logins", "{login}",
            "Logins at the cache that needed a password check, by result: ok, wrong, throttled (backing off wrong logins), busy (too many checks waiting)");

        _segments = Meter.CreateCounter<long>("cacheregistry.pool.segments", "{segment}",
            "Blob segments a pool (Strategy=pool) asked of each endpoint, by result: ok, failed, taken_over (stalled, finished by another endpoint)");
        _badBytes = Meter.CreateCounter<long>("cacheregistry.endpoint.bad", "By",
            "Bytes an endpoint sent that were not the blob's, found by a pool's repair (the endpoint is then quarantined)");
        _signatures = Meter.CreateCounter<long>("cacheregistry.signature.verifications", "{verification}",
            "Images a signature policy checked (once per digest), by policy and result: verified, unsigned, invalid, error");
        _pushes = Meter.CreateCounter<long>("cacheregistry.push.requests", "{request}",
            "Push requests forwarded to a registry (Push=true), by kind (blob, manifest, delete) and the registry's status (or failed)");
        _pushBytes = Meter.CreateCounter<long>("cacheregistry.push", "By", "Body bytes of pushes forwarded to each registry");
    }

    public Meter Meter { get; }

    /// <summary>The gauges of state the server keeps anyway, read at each scrape; called once, by the server.</summary>
    public void ObserveState(StateReadings read)
    {
        Meter.CreateObservableGauge("cacheregistry.upstream.endpoint.up", read.EndpointsUp, null,
            "1 while the endpoint answers, 0 after a failed request until one succeeds");
        Meter.CreateObservableGauge("cacheregistry.upstream.ratelimit.remaining", read.RateLimitsRemaining, "{request}",
            "Pulls left in the upstream's rate-limit window (Docker Hub's ratelimit-remaining), as last reported");
        Meter.CreateObservableGauge("cacheregistry.upstream.quota.remaining", read.QuotasRemaining, "By",
            "Bytes the upstream may still send in this quota period (Registry:Upstreams:<host>:Quota)");
        if (read.EndpointThroughput is { } throughput)
            Meter.CreateObservableGauge("cacheregistry.upstream.endpoint.throughput", throughput, "By/s",
                "Blob bytes per second one connection to the endpoint got, averaged over recent transfers (what a pool's ranking uses)");
        Meter.CreateObservableCounter("cacheregistry.log.dropped", read.LogLinesDropped, "{line}", "Log lines dropped because the console could not keep up");
        Meter.CreateObservableGauge("cacheregistry.store", read.StoreBytes, "By", "Bytes of blobs stored");
        Meter.CreateObservableGauge("cacheregistry.store.blobs", read.StoreBlobs, "{blob}", "Blobs stored");
        if (read.StoreLimit is long limit)
            Meter.CreateObservableGauge("cacheregistry.store.limit", () => limit, "By", "The size limit (Registry:Cache:MaxSize)");
        Meter.CreateObservableGauge("cacheregistry.store.up", read.StoresUp, null, "1 when the store answered its last probe, 0 when not");
        if (read.ImageAvailability is { } availability)
            Meter.CreateObservableGauge("cacheregistry.image.availability", availability, "{image}",
                "Tags pulled within Registry:Availability:Window by the outcome of their last check upstream (as of the last round)");
    }

    public void Request(string kind, string result, double seconds)
    {
        _requests.Add(1, new("kind", kind), new("result", result));
        _duration.Record(seconds, new KeyValuePair<string, object?>("kind", kind));
    }

    public void AvailabilityChecked(string registry, string outcome) =>
        _availabilityChecks.Add(1, new("registry", registry), new("outcome", outcome));

    /// <summary>A fill starts (+1) or stops (-1) waiting for a download slot: while it waits it is queued, not in flight.</summary>
    public void FillQueued(int delta)
    {
        _fillsQueued.Add(delta);
        _fillsInFlight.Add(-delta);
    }

    public void Login(string result) => _logins.Add(1, new KeyValuePair<string, object?>("result", result));

    public void TimeToFirstByte(double seconds) => _firstByte.Record(seconds);

    public void Served(bool fromCache, long bytes)
    {
        if (bytes > 0) _served.Add(bytes, new KeyValuePair<string, object?>("source", fromCache ? "cache" : "upstream"));
    }

    public void UpstreamBytes(string registry, long bytes)
    {
        if (bytes > 0) _upstreamBytes.Add(bytes, new KeyValuePair<string, object?>("registry", registry));
    }

    public void UpstreamRequest(string registry, string endpoint, string status) =>
        _upstreamRequests.Add(1, new("registry", registry), new("endpoint", endpoint), new("status", status));

    public void FillStarted() => _fillsInFlight.Add(1);
    public void FillEnded() => _fillsInFlight.Add(-1);
    public void FillResumed(int times) => _fillResumes.Add(times);
    public void FillFromReplica() => _replicaFills.Add(1);
    public void FillFailed(string reason) => _fillFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
    public void Evicted(long blobs) => _evictions.Add(blobs);
    public void Segment(string registry, string endpoint, string result) =>
        _segments.Add(1, new("registry", registry), new("endpoint", endpoint), new("result", result));

    public void BadBytes(string registry, string endpoint, long bytes) => _badBytes.Add(bytes, new("registry", registry), new("endpoint", endpoint));

    public void Pushed(string registry, string kind, string status, long bytes)
    {
        _pushes.Add(1, new("registry", registry), new("kind", kind), new("status", status));
        if (bytes > 0) _pushBytes.Add(bytes, new KeyValuePair<string, object?>("registry", registry));
    }

    public void SignatureChecked(string policy, string result) => _signatures.Add(1, new("policy", policy), new("result", result));

    public void Pull(bool success) => _pulls.Add(1, new KeyValuePair<string, object?>("result", success ? "success" : "failure"));

    public void Dispose()
    {
        if (_ownsMeter) Meter.Dispose();
    }
}

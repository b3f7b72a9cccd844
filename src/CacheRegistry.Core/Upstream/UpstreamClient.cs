using System.Collections.Concurrent;
using CacheRegistry.Oci;
using CacheRegistry.Telemetry;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Upstream;

/// <summary>
/// Talks to one upstream registry through its ordered endpoint chain: the token flow, redirects
/// followed by hand (credentials only to the origin they belong to, targets checked), first-byte
/// and idle timeouts, fall-over to the next endpoint on connection errors, timeouts, 5xx and 429,
/// and a cool-down for endpoints that keep failing.
/// </summary>
public sealed partial class UpstreamClient
{
    private const int MaxRedirects = 5;
    private HttpClient _http;
    // Makes a fresh connection pool (see RenewConnections); null: the one given is kept.
    private readonly Func<HttpClient>? _newHttp;
    private long _renewedAt;
    private readonly TokenCache _tokens;
    private readonly UpstreamOptions _options;
    private readonly TimeoutOptions _timeouts;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Func<string, CancellationToken, Task<IReadOnlyList<System.Net.IPAddress>>> _resolve;
    // The last challenge seen per host, so later requests carry a cached token without a 401 round trip.
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);
    // Realms already logged as refused credentials, so the warning comes once per realm.
    private readonly ConcurrentDictionary<string, bool> _realmsRefused = new(StringComparer.OrdinalIgnoreCase);
    // The end of the quota period already reported as spent, so the warning comes once per period.
    private long _quotaReportedUntil;

    /// <param name="resolve">Name resolution for the redirect and realm checks (the system's DNS unless a test gives its own).</param>
    public UpstreamClient(string name, UpstreamOptions options, HttpClient http, TimeoutOptions timeouts, TimeProvider time, ILogger log,
        EgressProxy? proxy = null, Func<string, CancellationToken, Task<IReadOnlyList<System.Net.IPAddress>>>? resolve = null,
        Cluster.ISharedState? shared = null, Func<HttpClient>? newHttp = null)
    {
        _newHttp = newHttp;
        _resolve = resolve ?? TargetPolicy.ResolveAsync;
        Name = name;
        _options = options;
        // The registry's own credentials go to its origin, the last endpoint; a mirror placed before
        // it gets only what its own URL carries.
        var registry = string.IsNullOrEmpty(options.Username) ? null : new UpstreamCredentials(options.Username, options.Password ?? "");
        Endpoints = options.Endpoints.Select((e, i) => i == options.Endpoints.Count - 1
            ? new UpstreamEndpoint(e, registry, isOrigin: true)
            : new UpstreamEndpoint(e, null, isOrigin: false)).ToArray();
        if (Endpoints.Count == 0) throw new ArgumentException($"upstream '{name}' has no endpoints", nameof(options));
        _http = http;
        _tokens = new TokenCache(http, time, timeouts, shared);
        _timeouts = timeouts;
        _time = time;
        _log = log;
        Proxy = proxy;
    }

    /// <summary>The registry host this upstream stands for, e.g. docker.io.</summary>
    public string Name { get; }
    public IReadOnlyList<UpstreamEndpoint> Endpoints { get; }
    public EgressProxy? Proxy { get; }
    public bool TagsFromOriginOnly => _options.TagsFromOriginOnly;
    /// <summary>No request goes to this upstream at all: cached tags count as fresh, misses fail at once.</summary>
    public bool IsOffline { get; init; }
    public CacheMetrics Metrics { get; init; } = CacheMetrics.Unobserved;
    /// <summary>ClientCredentials=Passthrough: requests carry the client's credentials (<see cref="ClientCredentials.Current"/>), not the cache's.</summary>
    public bool IsPassthrough => _options.ClientCredentials.Equals("Passthrough", StringComparison.OrdinalIgnoreCase);
    /// <summary>How long a client's access check for a repository holds (passthrough).</summary>
    public TimeSpan PassthroughCheckTtl => _options.PassthroughCheckTtl;
    /// <summary>The upstream's byte quota, when it has one.</summary>
    public UpstreamQuota? Quota { get; init; }
    /// <summary>Queues blob downloads beyond Registry:Upstreams:&lt;host&gt;:MaxConcurrentFills; null for no limit.</summary>
    public SemaphoreSlim? FillSlots { get; init; }
    public int MaxConcurrentFills { get; init; }
    /// <summary>How long a download waits for a <see cref="FillSlots"/> slot before its clients get 503.</summary>
    public TimeSpan FillQueueWait { get; init; }
    public IReadOnlyList<string> RepositoryPatterns => _options.Repositories;

    /// <summary>Registry:Upstreams:&lt;host&gt;:Push: the write API is forwarded to <see cref="Origin"/>.</summary>
    public bool AllowsPush => _options.Push;
    public bool AllowsDelete => _options.AllowDelete;

    /// <summary>The registry itself: the last endpoint, the one that gets the registry's credentials.</summary>
    public UpstreamEndpoint Origin => Endpoints[^1];

    /// <summary>Connections for forwarding pushes (this upstream's egress proxy, timeouts, no redirects followed); set when <see cref="AllowsPush"/>.</summary>
    public HttpMessageInvoker? PushTransport { get; init; }

    public Task<UpstreamResponse> HeadManifestAsync(string name, string reference, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Head, name, "manifests/" + reference, MediaTypes.ManifestAccept, null, IsOriginOnly(reference)), ct);

    public Task<UpstreamResponse> GetManifestAsync(string name, string reference, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Get, name, "manifests/" + reference, MediaTypes.ManifestAccept, null, IsOriginOnly(reference)), ct);

    public Task<UpstreamResponse> HeadBlobAsync(string name, Digest digest, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Head, name, "blobs/" + digest, null, null, false), ct);

    /// <summary>The blob from byte <paramref name="from"/> on (a Range request when not zero).</summary>
    public Task<UpstreamResponse> GetBlobAsync(string name, Digest digest, long from, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Get, name, "blobs/" + digest, null, from > 0 ? from : null, false), ct);

    /// <summary>
    /// Bytes <paramref name="from"/> to <paramref name="to"/> (inclusive) of the blob from one endpoint
    /// only, with that endpoint's credentials: a pool's segment. The pool, not a chain, decides
    /// what happens when it fails.
    /// </summary>
    public Task<UpstreamResponse> GetBlobSegmentAsync(string name, Digest digest, UpstreamEndpoint endpoint, long from, long to, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Get, name, "blobs/" + digest, null, from, false, to, endpoint), ct);

    /// <summary>The endpoints a pool may use now: neither cooling down nor quarantined.</summary>
    public IReadOnlyList<UpstreamEndpoint> PoolEndpoints()
    {
        var now = _time.GetUtcNow();
        return [.. Endpoints.Where(e => !e.IsCoolingDown(now) && !e.IsQuarantined(now))];
    }

    public PoolOptions? Pool => _options.IsPool ? _options.Pool : null;

    /// <summary>The OCI 1.1 referrers of <paramref name="subject"/>; an upstream without the API answers 404.</summary>
    public Task<UpstreamResponse> GetReferrersAsync(string name, Digest subject, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Get, name, "referrers/" + subject, [MediaTypes.OciIndex], null, false), ct);

    /// <summary>One page of the repository's tags; <paramref name="cursor"/> is the previous page's <see cref="TagsPage.Next"/>.</summary>
    public async Task<TagsPage> ListTagsPageAsync(string name, string? cursor, int maxBytes, CancellationToken ct)
    {
        using var response = await SendAsync(new UpstreamRequest(HttpMethod.Get, name, "tags/list" + cursor, ["application/json"], null, _options.TagsFromOriginOnly), ct);
        return TagsPage.Read(await response.ReadSmallBodyAsync(maxBytes, ct), response.Message, name);
    }

    // A tag may be stale on a mirror; a digest is verified wherever it comes from.
    private bool IsOriginOnly(string reference) => _options.TagsFromOriginOnly && !Digest.TryParse(reference, out _);

    /// <summary>
    /// Sends <c>METHOD /v2/{name}/{path}</c> along the endpoint chain. Returns a 2xx response
    /// (headers read, body not yet); throws <see cref="UpstreamException"/> otherwise, or
    /// <see cref="OperationCanceledException"/> when <paramref name="ct"/> ends it.
    /// </summary>
    private async Task<UpstreamResponse> SendAsync(UpstreamRequest request, CancellationToken ct)
    {
        if (IsOffline)
            throw new UpstreamException(UpstreamFailure.Offline, $"upstream {Name} is offline (Registry:Offline): only what the cache holds is served, and this is not in it");
        if (Quota is { IsSpent: true } quota)
        {
            if (Interlocked.Exchange(ref _quotaReportedUntil, quota.ResetsAt.UtcTicks) != quota.ResetsAt.UtcTicks)
                Log.QuotaSpent(_log, Name, ByteSize.Format(quota.Limit), quota.Period, quota.ResetsAt);
            throw QuotaRefusal(quota, "is spent");
        }
        if (_options.IsPool && request.Only is null && !request.OriginOnly && request.Path.StartsWith("manifests/", StringComparison.Ordinal) && Endpoints.Count > 1)
            return await HedgedAsync(request, _options.Pool.ManifestHedgeAfter, ct);
        var scope = $"repository:{request.Name}:pull";
        UpstreamException? last = null;
        var order = request.Only is { } only ? [only] : Order(request.OriginOnly).ToList();
        var askedAgain = false;
        for (var i = 0; i < order.Count; i++)
        {
            var endpoint = order[i];
            var url = new Uri(endpoint.BaseUri, $"v2/{request.Name}/{request.Path}");
            // One span per endpoint asked (its HTTP requests, with redirects and auth, are HttpClient's spans
            // under it), ending with the response headers; the fill's span carries the body.
            using var span = Tracing.Source.StartActivity("upstream " + request.Method.Method);
            span?.SetTag("cacheregistry.registry", Name).SetTag("server.address", endpoint.Authority).SetTag("http.request.method", request.Method.Method)
                .SetTag("url.path", url.AbsolutePath);
            try
            {
                var asked = _time.GetTimestamp();
                var response = await SendToEndpointAsync(endpoint, request, url, scope, ct);
                endpoint.RecordLatency(_time.GetElapsedTime(asked));
                Metrics.UpstreamRequest(Name, endpoint.Authority, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                span?.SetTag("http.response.status_code", (int)response.StatusCode);
                var failure = await ClassifyAsync(response, endpoint, ct);
                if (failure is not null) span.Fail(failure);
                if (failure is null || !failure.IsTransient) endpoint.RecordSuccess(_time.GetUtcNow());
                if (failure is null) return new UpstreamResponse(response, endpoint.BaseUri, _timeouts.Idle, _time, CountBytes, endpoint);
                response.Dispose();
                last = failure;
                // A mirror that lacks the image or wants credentials it was not given: ask the next one.
                if (!endpoint.IsOrigin && failure.Failure is UpstreamFailure.NotFound or UpstreamFailure.Unauthorized or UpstreamFailure.Denied) continue;
                if (!failure.IsTransient) throw failure;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
            {
                last = new UpstreamException(UpstreamFailure.Unavailable, $"upstream {Name} endpoint {endpoint.Authority} is unreachable{Via(url)}: {Describe(e)}", e);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                RenewConnections();
                // A pooled connection that went silent while idle (a partition or a middlebox that
                // dropped it) says nothing of the endpoint: with no other endpoint left to ask, this
                // one is asked again, once, on a fresh connection.
                if (e is PooledConnectionSilentException && i == order.Count - 1 && !askedAgain)
                {
                    askedAgain = true;
                    Log.AskingAgain(_log, Name, endpoint.Authority);
                    span.Fail(e);
                    i--;
                    continue;
                }
                last = new UpstreamException(UpstreamFailure.Timeout, $"upstream {Name} endpoint {endpoint.Authority} did not answer in time{Via(url)}", e);
            }
            span.Fail(last);
            if (last.Failure is UpstreamFailure.Unavailable or UpstreamFailure.Timeout && last.InnerException is not null)
                Metrics.UpstreamRequest(Name, endpoint.Authority, last.Failure == UpstreamFailure.Timeout ? "timeout" : "unreachable");
            endpoint.RecordFailure(_time.GetUtcNow(), last.Message, _options.FailuresBeforeCoolDown, _options.CoolDown);
            Log.EndpointFailed(_log, Name, endpoint.Authority, last.Message);
        }
        throw last!;
    }

    /// <summary>
    /// A pool's manifest request: the endpoint that has answered fastest is asked first, the next
    /// one too when the first has not answered within <paramref name="hedgeAfter"/> or failed;
    /// the first good answer wins and the others are cancelled. A manifest is checked against its
    /// digest when asked by digest; a tag's answer is as good as the endpoint that gave it, as in a chain.
    /// </summary>
    private async Task<UpstreamResponse> HedgedAsync(UpstreamRequest request, TimeSpan hedgeAfter, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var order = Endpoints.Select((e, i) => (e, i)).OrderBy(x => Standing(x.e, now)).ThenBy(x => x.e.Latency ?? TimeSpan.MaxValue).ThenBy(x => x.i)
            .Select(x => x.e).ToList();
        using var race = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = new Dictionary<Task<UpstreamResponse>, UpstreamEndpoint>();
        UpstreamException? last = null, fromOrigin = null;
        var next = 0;
        try
        {
            // Each round asks one more endpoint: the first, then the next when none answered in time or one failed.
            while (true)
            {
                if (next < order.Count)
                {
                    var endpoint = order[next++];
                    running[SendAsync(request with { Only = endpoint }, race.Token)] = endpoint;
                }
                if (running.Count == 0) throw fromOrigin ?? last!;
                var hedge = next < order.Count ? Task.Delay(hedgeAfter, _time, race.Token) : Task.Delay(Timeout.Infinite, race.Token);
                var done = await Task.WhenAny([.. running.Keys, hedge]);
                if (done == hedge) continue;
                var answered = (Task<UpstreamResponse>)done;
                var by = running[answered];
                running.Remove(answered);
                try
                {
                    return await answered;
                }
                catch (UpstreamException e)
                {
                    // The origin's answer (a 404, a denial) counts most when nobody has the manifest.
                    if (by.IsOrigin) fromOrigin = e;
                    last = e;
                }
            }
        }
        finally
        {
            await race.CancelAsync();
            foreach (var loser in running.Keys) loser.DisposeWhenDone();
        }
    }

    /// <summary>Healthy first, then cooling down, then quarantined.</summary>
    private static int Standing(UpstreamEndpoint e, DateTimeOffset now) => e.IsQuarantined(now) ? 2 : e.IsCoolingDown(now) ? 1 : 0;

    /// <summary>
    /// After a request got no answer in time, the next ones go out on a fresh pool: connections that
    /// a partition left open but silent (a middlebox that dropped their state) would otherwise fail
    /// one request each once the upstream is back. At most once per FirstByte period; the old pool
    /// is not disposed, so downloads running on it go on, and its idle connections expire.
    /// </summary>
    private void RenewConnections()
    {
        if (_newHttp is null) return;
        var now = _time.GetUtcNow().UtcTicks;
        var last = Interlocked.Read(ref _renewedAt);
        if (now - last < _timeouts.FirstByte.Ticks || Interlocked.CompareExchange(ref _renewedAt, now, last) != last) return;
        Volatile.Write(ref _http, _newHttp());
        Log.ConnectionsRenewed(_log, Name);
    }

    /// <summary>A miss refused by the quota: <paramref name="situation"/> says why (is spent, has too little left).</summary>
    internal UpstreamException QuotaRefusal(UpstreamQuota quota, string situation) => new(UpstreamFailure.QuotaSpent,
        $"upstream {Name}'s quota of {ByteSize.Format(quota.Limit)} per {quota.Period} {situation} (Registry:Upstreams:{Name}:Quota): only what the cache holds is served until {quota.ResetsAt:u}")
    {
        RetryAfterSeconds = (int)Math.Ceiling((quota.ResetsAt - _time.GetUtcNow()).TotalSeconds),
    };

    private void CountBytes(int n)
    {
        Metrics.UpstreamBytes(Name, n);
        Quota?.Add(n);
    }

    /// <summary>
    /// Healthy endpoints in configured order (or, with <c>Order=measured</c>, the mirrors fastest
    /// first and the origin still last), then cooling-down ones, then ones quarantined for wrong
    /// bytes, as a last resort (what they send is verified, but they are asked only when nothing
    /// else answers).
    /// </summary>
    private IEnumerable<UpstreamEndpoint> Order(bool originOnly)
    {
        if (originOnly) return [Endpoints[^1]];
        var now = _time.GetUtcNow();
        var ranked = Endpoints.OrderBy(e => Standing(e, now));
        return _options.IsMeasuredOrder ? ranked.ThenBy(e => e.IsOrigin).ThenBy(e => e.ExpectedSeconds) : ranked;
    }

    private string Via(Uri url) => Proxy?.GetProxy(url) is null ? "" : $" via egress proxy {Proxy.Address}";

    private async Task<UpstreamException?> ClassifyAsync(HttpResponseMessage response, UpstreamEndpoint endpoint, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        if (status is >= 200 and < 300) return null;
        var where = $"upstream {Name} endpoint {endpoint.Authority}";
        var code = await UpstreamErrorBody.TryReadCodeAsync(response, _time, ct);
        return status switch
        {
            404 => new UpstreamException(UpstreamFailure.NotFound, $"{where} answered 404{Suffix(code)}") { UpstreamCode = code },
            401 => new UpstreamException(UpstreamFailure.Unauthorized, $"{where} refused access (401{Suffix(code)}); configure credentials for it"),
            403 => new UpstreamException(UpstreamFailure.Denied, $"{where} denied access (403{Suffix(code)})"),
            429 => new UpstreamException(UpstreamFailure.RateLimited, $"{where} is rate limiting (429)")
            {
                RetryAfterSeconds = (int?)response.Headers.RetryAfter?.Delta?.TotalSeconds,
            },
            _ => new UpstreamException(UpstreamFailure.BadResponse, $"{where} answered {status} {response.ReasonPhrase}{Suffix(code)}"),
        };
    }

    private static string Suffix(string? code) => code is null ? "" : " " + code;

    private static string Describe(Exception e) =>
        e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information,
            Message = "upstream {Upstream} {Method} {Url} -> {Status} in {ElapsedMs:F1} ms{RateLimit}")]
        public static partial void UpstreamCall(ILogger logger, string upstream, string method, string url, int status, double elapsedMs, string rateLimit);

        [LoggerMessage(EventId = 109, Level = LogLevel.Information, Message = "upstream {Upstream}: a request got no answer in time; new requests go out on fresh connections")]
        public static partial void ConnectionsRenewed(ILogger logger, string upstream);

        [LoggerMessage(EventId = 110, Level = LogLevel.Information,
            Message = "upstream {Upstream} endpoint {Endpoint}: a pooled connection gave no answer in time (gone silent while idle?); asking again on a fresh connection")]
        public static partial void AskingAgain(ILogger logger, string upstream, string endpoint);

        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "upstream {Upstream} endpoint {Endpoint} failed: {Reason}")]
        public static partial void EndpointFailed(ILogger logger, string upstream, string endpoint, string reason);

        [LoggerMessage(EventId = 103, Level = LogLevel.Warning,
            Message = "upstream {Upstream}: its quota of {Quota} per {Period} is spent; only cached content is served, misses get 429 until {ResetsAt:u}")]
        public static partial void QuotaSpent(ILogger logger, string upstream, string quota, string period, DateTimeOffset resetsAt);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning,
            Message = "upstream {Upstream}: token realm {Realm} is neither https nor the endpoint's own host; its token is fetched without credentials")]
        public static partial void RealmWithoutCredentials(ILogger logger, string upstream, string realm);
    }
}

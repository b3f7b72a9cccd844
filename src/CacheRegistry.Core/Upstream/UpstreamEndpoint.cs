namespace CacheRegistry.Upstream;

/// <summary>
/// One base URL of an upstream's chain with its own credentials and health: after several
/// failures in a row it cools down, is tried only when every other endpoint fails too, and is
/// probed again once the cool-down ends. Credentials are bound to the endpoint's origin (scheme,
/// host, port): the ones in its URL, and for the registry's origin (the last endpoint) the
/// registry's own. Nothing of them ever goes to another origin.
/// </summary>
public sealed class UpstreamEndpoint
{
    private readonly object _lock = new();
    private int _failures;
    private DateTimeOffset _coolUntil = DateTimeOffset.MinValue;
    private Task<AddressReach>? _reach;

    /// <param name="registryCredentials">The registry's credentials, given only to its origin endpoint.</param>
    public UpstreamEndpoint(string url, UpstreamCredentials? registryCredentials, bool isOrigin)
    {
        var uri = new Uri(url.TrimEnd('/') + "/");
        IsOrigin = isOrigin;
        Credentials = registryCredentials;
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            Credentials = new UpstreamCredentials(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
            uri = new UriBuilder(uri) { UserName = "", Password = "" }.Uri;
        }
        BaseUri = uri;
    }

    public Uri BaseUri { get; }
    public string Authority => BaseUri.Authority;
    /// <summary>The registry's own endpoint (the last of the chain), which alone gets registry-level credentials and tokens.</summary>
    public bool IsOrigin { get; }
    public UpstreamCredentials? Credentials { get; }

    /// <summary>Same scheme, host and port as this endpoint: the only place its credentials may go.</summary>
    public bool IsSameOrigin(Uri url) =>
        url.Scheme == BaseUri.Scheme && url.Port == BaseUri.Port && url.Host.Equals(BaseUri.Host, StringComparison.OrdinalIgnoreCase);

    /// <summary>Where the endpoint's own host is (resolved once), which decides where it may redirect to.</summary>
    public Task<AddressReach> ReachAsync(Func<string, CancellationToken, Task<IReadOnlyList<System.Net.IPAddress>>> resolve, CancellationToken ct) =>
        _reach ??= ResolveReachAsync(resolve, ct);

    private async Task<AddressReach> ResolveReachAsync(Func<string, CancellationToken, Task<IReadOnlyList<System.Net.IPAddress>>> resolve, CancellationToken ct)
    {
        try
        {
            var addresses = await resolve(BaseUri.DnsSafeHost, ct);
            return addresses.Count == 0 ? AddressReach.Public : TargetPolicy.Classify(addresses[0]);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            _reach = null; // try again next time
            return AddressReach.Public;
        }
    }

    public string? LastError { get; private set; }
    public DateTimeOffset? LastSuccess { get; private set; }
    public int ConsecutiveFailures => _failures;
    public DateTimeOffset? CoolingDownUntil => _coolUntil == DateTimeOffset.MinValue ? null : _coolUntil;
    /// <summary>Docker Hub's <c>ratelimit-remaining</c> / <c>ratelimit-limit</c> as last seen.</summary>
    public string? RateLimitRemaining { get; private set; }
    public string? RateLimitLimit { get; private set; }

    public bool IsCoolingDown(DateTimeOffset now) => now < _coolUntil;

    /// <summary>Until when it is left out for having sent wrong bytes (a pool found it out), and why.</summary>
    public DateTimeOffset? QuarantinedUntil { get; private set; }
    public string? QuarantineReason { get; private set; }
    /// <summary>Bytes it sent that were not the blob's (found by a pool's repair).</summary>
    public long BadBytes => Interlocked.Read(ref _badBytes);
    private long _badBytes;

    public bool IsQuarantined(DateTimeOffset now) => now < QuarantinedUntil;

    public void Quarantine(DateTimeOffset until, long badBytes, string reason)
    {
        lock (_lock)
        {
            QuarantinedUntil = until;
            QuarantineReason = reason;
        }
        Interlocked.Add(ref _badBytes, badBytes);
    }

    /// <summary>Blob bytes per second on one connection, averaged over recent transfers (null before the first).</summary>
    public double? Throughput { get; private set; }
    /// <summary>Time to the response headers, averaged over recent requests.</summary>
    public TimeSpan? Latency { get; private set; }

    /// <summary>
    /// What a request of about a megabyte is expected to take here, by the averages: the ranking of
    /// <c>Order=measured</c>. An endpoint not measured yet counts as fastest, so it gets measured.
    /// </summary>
    public double ExpectedSeconds
    {
        get
        {
            lock (_lock)
                return Latency is not { } l ? 0 : l.TotalSeconds + (Throughput is double t && t > 0 ? (1 << 20) / t : 0);
        }
    }

    /// <summary>A transfer of <paramref name="bytes"/> taking <paramref name="elapsed"/> on one connection, for the ranking.</summary>
    public void RecordTransfer(long bytes, TimeSpan elapsed)
    {
        if (bytes < 64 * 1024 || elapsed <= TimeSpan.Zero) return; // too short to say anything about the rate
        var rate = bytes / elapsed.TotalSeconds;
        lock (_lock) Throughput = Throughput is double t ? t + (rate - t) * Smoothing : rate;
    }

    public void RecordLatency(TimeSpan elapsed)
    {
        lock (_lock) Latency = Latency is TimeSpan l ? l + (elapsed - l) * Smoothing : elapsed;
    }

    // Exponential averages: recent transfers weigh most, one odd transfer does not reorder a pool.
    private const double Smoothing = 0.3;

    public override string ToString() => BaseUri.ToString();

    public void RecordSuccess(DateTimeOffset now)
    {
        lock (_lock)
        {
            _failures = 0;
            _coolUntil = DateTimeOffset.MinValue;
            LastSuccess = now;
        }
    }

    public void RecordFailure(DateTimeOffset now, string error, int threshold, TimeSpan coolDown)
    {
        lock (_lock)
        {
            LastError = error;
            if (++_failures >= threshold) _coolUntil = now + coolDown;
        }
    }

    public void RecordRateLimit(string? remaining, string? limit)
    {
        if (remaining is not null) RateLimitRemaining = remaining;
        if (limit is not null) RateLimitLimit = limit;
    }
}

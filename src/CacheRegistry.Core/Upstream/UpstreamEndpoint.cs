namespace CacheRegistry.Upstream;

/// <summary>
/// One base URL of an upstream's chain with its own credentials (from the URL's user info) and
/// health: after several failures in a row it cools down, is tried only when every other
/// endpoint fails too, and is probed again once the cool-down ends.
/// </summary>
public sealed class UpstreamEndpoint
{
    private readonly object _lock = new();
    private int _failures;
    private DateTimeOffset _coolUntil = DateTimeOffset.MinValue;

    public UpstreamEndpoint(string url, UpstreamCredentials? fallback)
    {
        var uri = new Uri(url.TrimEnd('/') + "/");
        Credentials = fallback;
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
    public UpstreamCredentials? Credentials { get; }
    public string? LastError { get; private set; }
    public DateTimeOffset? LastSuccess { get; private set; }
    public int ConsecutiveFailures => _failures;
    public DateTimeOffset? CoolingDownUntil => _coolUntil == DateTimeOffset.MinValue ? null : _coolUntil;
    /// <summary>Docker Hub's <c>ratelimit-remaining</c> / <c>ratelimit-limit</c> as last seen.</summary>
    public string? RateLimitRemaining { get; private set; }
    public string? RateLimitLimit { get; private set; }

    public bool IsCoolingDown(DateTimeOffset now) => now < _coolUntil;

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

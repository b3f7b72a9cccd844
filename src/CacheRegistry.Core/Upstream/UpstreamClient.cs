using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using CacheRegistry.Oci;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Upstream;

/// <summary>
/// Talks to one upstream registry through its ordered endpoint chain: the token flow, redirects
/// followed by hand (Authorization only to hosts that asked for it), first-byte and idle timeouts,
/// fall-over to the next endpoint on connection errors, timeouts, 5xx and 429, and a cool-down
/// for endpoints that keep failing.
/// </summary>
public sealed partial class UpstreamClient
{
    private const int MaxRedirects = 5;
    private readonly HttpClient _http;
    private readonly TokenCache _tokens;
    private readonly UpstreamOptions _options;
    private readonly TimeoutOptions _timeouts;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    // The last challenge seen per host, so later requests carry a cached token without a 401 round trip.
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);

    public UpstreamClient(string name, UpstreamOptions options, HttpClient http, TimeoutOptions timeouts, TimeProvider time, ILogger log,
        EgressProxy? proxy = null)
    {
        Name = name;
        _options = options;
        var shared = string.IsNullOrEmpty(options.Username) ? null : new UpstreamCredentials(options.Username, options.Password ?? "");
        Endpoints = options.Endpoints.Select(e => new UpstreamEndpoint(e, shared)).ToArray();
        if (Endpoints.Count == 0) throw new ArgumentException($"upstream '{name}' has no endpoints", nameof(options));
        _http = http;
        _tokens = new TokenCache(http, time, timeouts);
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
    public IReadOnlyList<string> RepositoryPatterns => _options.Repositories;
    /// <summary>Docker Hub keeps official images under <c>library/</c>.</summary>
    public bool AddsLibraryPrefix => Name == "docker.io";

    public Task<UpstreamResponse> HeadManifestAsync(string name, string reference, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Head, name, "manifests/" + reference, MediaTypes.ManifestAccept, null, IsOriginOnly(reference)), ct);

    public Task<UpstreamResponse> GetManifestAsync(string name, string reference, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Get, name, "manifests/" + reference, MediaTypes.ManifestAccept, null, IsOriginOnly(reference)), ct);

    public Task<UpstreamResponse> HeadBlobAsync(string name, Digest digest, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Head, name, "blobs/" + digest, null, null, false), ct);

    /// <summary>The blob from byte <paramref name="from"/> on (a Range request when not zero).</summary>
    public Task<UpstreamResponse> GetBlobAsync(string name, Digest digest, long from, CancellationToken ct) =>
        SendAsync(new UpstreamRequest(HttpMethod.Get, name, "blobs/" + digest, null, from > 0 ? from : null, false), ct);

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
        var scope = $"repository:{request.Name}:pull";
        UpstreamException? last = null;
        foreach (var endpoint in Order(request.OriginOnly))
        {
            var url = new Uri(endpoint.BaseUri, $"v2/{request.Name}/{request.Path}");
            try
            {
                var response = await SendToEndpointAsync(endpoint, request, url, scope, ct);
                var failure = await ClassifyAsync(response, endpoint, ct);
                if (failure is null || !IsWorthNextEndpoint(failure.Failure)) endpoint.RecordSuccess(_time.GetUtcNow());
                if (failure is null) return new UpstreamResponse(response, endpoint.BaseUri, _timeouts.Idle);
                response.Dispose();
                if (!IsWorthNextEndpoint(failure.Failure)) throw failure;
                last = failure;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
            {
                last = new UpstreamException(UpstreamFailure.Unavailable, $"upstream {Name} endpoint {endpoint.Authority} is unreachable{Via(url)}: {Describe(e)}", e);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                last = new UpstreamException(UpstreamFailure.Timeout, $"upstream {Name} endpoint {endpoint.Authority} did not answer in time{Via(url)}", e);
            }
            endpoint.RecordFailure(_time.GetUtcNow(), last.Message, _options.FailuresBeforeCoolDown, _options.CoolDown);
            Log.EndpointFailed(_log, Name, endpoint.Authority, last.Message);
        }
        throw last!;
    }

    /// <summary>Healthy endpoints in configured order, then cooling-down ones as a last resort.</summary>
    private IEnumerable<UpstreamEndpoint> Order(bool originOnly)
    {
        if (originOnly) return [Endpoints[^1]];
        var now = _time.GetUtcNow();
        return Endpoints.Where(e => !e.IsCoolingDown(now)).Concat(Endpoints.Where(e => e.IsCoolingDown(now)));
    }

    private string Via(Uri url) => Proxy?.GetProxy(url) is null ? "" : $" via egress proxy {Proxy.Address}";

    private static bool IsWorthNextEndpoint(UpstreamFailure f) =>
        f is UpstreamFailure.Unavailable or UpstreamFailure.Timeout or UpstreamFailure.BadResponse or UpstreamFailure.RateLimited;

    private async Task<HttpResponseMessage> SendToEndpointAsync(UpstreamEndpoint endpoint, UpstreamRequest request, Uri url, string scope, CancellationToken ct)
    {
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            var response = await SendWithAuthAsync(endpoint, request, url, scope, ct);
            if (!IsRedirect(response.StatusCode) || response.Headers.Location is null) return response;
            var next = response.Headers.Location.IsAbsoluteUri ? response.Headers.Location : new Uri(url, response.Headers.Location);
            response.Dispose();
            url = next;
        }
        throw new HttpRequestException($"more than {MaxRedirects} redirects");
    }

    private async Task<HttpResponseMessage> SendWithAuthAsync(UpstreamEndpoint endpoint, UpstreamRequest upstreamRequest, Uri url, string scope, CancellationToken ct)
    {
        var credentials = endpoint.Credentials;
        var retriedAuth = false;
        var invalidTokenRetried = false;
        while (true)
        {
            using var request = new HttpRequestMessage(upstreamRequest.Method, url);
            if (upstreamRequest.Accept is { } accept)
                foreach (var a in accept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(a));
            if (upstreamRequest.RangeFrom is { } from) request.Headers.Range = new RangeHeaderValue(from, null);
            request.Headers.Authorization = AuthorizationFor(url, scope, credentials);

            using var firstByte = CancellationTokenSource.CreateLinkedTokenSource(ct);
            firstByte.CancelAfter(_timeouts.FirstByte);
            var started = Stopwatch.GetTimestamp();
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, firstByte.Token);
            var remaining = Header(response, "ratelimit-remaining");
            endpoint.RecordRateLimit(remaining, Header(response, "ratelimit-limit"));
            Log.UpstreamCall(_log, Name, upstreamRequest.Method.Method, url.GetLeftPart(UriPartial.Path), (int)response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds, remaining);

            if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
            var challenge = response.Headers.WwwAuthenticate.Select(h => AuthChallenge.Parse(h.ToString())).FirstOrDefault(c => c is not null);
            if (challenge is null) return response;
            var isBearer = challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
            if (isBearer && challenge.Error == "invalid_token" && !invalidTokenRetried && _options.Token is null)
            {
                _tokens.Invalidate(TokenCache.Key(challenge, scope, credentials?.Username));
                invalidTokenRetried = true;
            }
            else if (retriedAuth) return response;
            else if (!isBearer && credentials is null) return response;

            retriedAuth = true;
            response.Dispose();
            _challenges[url.Authority] = challenge;
            if (isBearer && _options.Token is null) await _tokens.GetAsync(challenge, scope, credentials, ct);
        }
    }

    private AuthenticationHeaderValue? AuthorizationFor(Uri url, string scope, UpstreamCredentials? credentials)
    {
        if (!_challenges.TryGetValue(url.Authority, out var challenge)) return null; // never send credentials to a host that did not ask
        if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            var token = _options.Token ?? _tokens.TryGet(TokenCache.Key(challenge, scope, credentials?.Username));
            return token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        }
        return credentials is null ? null : new AuthenticationHeaderValue("Basic", credentials.BasicValue);
    }

    private async Task<UpstreamException?> ClassifyAsync(HttpResponseMessage response, UpstreamEndpoint endpoint, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        if (status is >= 200 and < 300) return null;
        var where = $"upstream {Name} endpoint {endpoint.Authority}";
        var code = await UpstreamErrorBody.TryReadCodeAsync(response, ct);
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

    private static bool IsRedirect(HttpStatusCode s) => s is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault() : null;

    private static string Describe(Exception e) =>
        e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information,
            Message = "upstream {Upstream} {Method} {Url} -> {Status} in {ElapsedMs:F1} ms (ratelimit-remaining {RateLimitRemaining})")]
        public static partial void UpstreamCall(ILogger logger, string upstream, string method, string url, int status, double elapsedMs, string? rateLimitRemaining);

        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "upstream {Upstream} endpoint {Endpoint} failed: {Reason}")]
        public static partial void EndpointFailed(ILogger logger, string upstream, string endpoint, string reason);
    }
}

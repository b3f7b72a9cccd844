using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Upstream;

/// <summary>
/// Talks to one upstream registry through its ordered endpoint list: the token flow, redirects
/// followed by hand (Authorization only to hosts that asked for it), first-byte and idle timeouts,
/// and fall-over to the next endpoint on connection errors, timeouts, 5xx and 429.
/// </summary>
public sealed partial class UpstreamClient
{
    private const int MaxRedirects = 5;
    private readonly HttpClient _http;
    private readonly TokenCache _tokens;
    private readonly UpstreamCredentials? _credentials;
    private readonly TimeoutOptions _timeouts;
    private readonly ILogger _log;
    // The last challenge seen per host, so later requests carry a cached token without a 401 round trip.
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.OrdinalIgnoreCase);

    public UpstreamClient(string name, UpstreamOptions options, HttpClient http, TokenCache tokens, TimeoutOptions timeouts, ILogger log)
    {
        Name = name;
        Endpoints = options.Endpoints.Select(e => new Uri(e.TrimEnd('/') + "/")).ToArray();
        if (Endpoints.Count == 0) throw new ArgumentException($"upstream '{name}' has no endpoints", nameof(options));
        _http = http;
        _tokens = tokens;
        _timeouts = timeouts;
        _log = log;
        if (!string.IsNullOrEmpty(options.Username))
            _credentials = new UpstreamCredentials(options.Username, options.Password ?? "");
    }

    /// <summary>The registry host this upstream stands for, e.g. docker.io.</summary>
    public string Name { get; }
    public IReadOnlyList<Uri> Endpoints { get; }
    /// <summary>Docker Hub keeps official images under <c>library/</c>.</summary>
    public bool AddsLibraryPrefix => Name == "docker.io";

    /// <summary>
    /// Sends <c>METHOD /v2/{name}/{path}</c>. Returns a 2xx response (headers read, body not yet);
    /// throws <see cref="UpstreamException"/> otherwise. <paramref name="deadline"/> bounds the whole
    /// wait for headers across endpoints (used by tag revalidation).
    /// </summary>
    public async Task<UpstreamResponse> SendAsync(HttpMethod method, string name, string path, IReadOnlyList<string>? accept,
        CancellationToken ct, TimeSpan? deadline = null, long? rangeFrom = null)
    {
        using var deadlineCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (deadline is { } d) deadlineCts.CancelAfter(d);
        var scope = $"repository:{name}:pull";
        UpstreamException? last = null;
        foreach (var endpoint in Endpoints)
        {
            var url = new Uri(endpoint, $"v2/{name}/{path}");
            try
            {
                var response = await SendToEndpointAsync(method, url, scope, accept, rangeFrom, deadlineCts.Token);
                var failure = Classify(response, endpoint);
                if (failure is null) return new UpstreamResponse(response, endpoint, _timeouts.Idle);
                response.Dispose();
                if (!IsWorthNextEndpoint(failure.Failure)) throw failure;
                last = failure;
            }
            catch (HttpRequestException e)
            {
                last = new UpstreamException(UpstreamFailure.Unavailable, $"upstream {Name} endpoint {endpoint.Authority} is unreachable: {Describe(e)}", e);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                last = new UpstreamException(UpstreamFailure.Timeout, $"upstream {Name} endpoint {endpoint.Authority} did not answer in time", e);
                if (deadline is not null) break; // the deadline covers the whole chain
            }
            Log.EndpointFailed(_log, Name, endpoint.Authority, last.Message);
        }
        throw last!;
    }

    private static bool IsWorthNextEndpoint(UpstreamFailure f) =>
        f is UpstreamFailure.Unavailable or UpstreamFailure.Timeout or UpstreamFailure.BadResponse or UpstreamFailure.RateLimited;

    private async Task<HttpResponseMessage> SendToEndpointAsync(HttpMethod method, Uri url, string scope,
        IReadOnlyList<string>? accept, long? rangeFrom, CancellationToken ct)
    {
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            var response = await SendWithAuthAsync(method, url, scope, accept, rangeFrom, ct);
            if (!IsRedirect(response.StatusCode) || response.Headers.Location is null) return response;
            var next = response.Headers.Location.IsAbsoluteUri ? response.Headers.Location : new Uri(url, response.Headers.Location);
            response.Dispose();
            url = next;
        }
        throw new HttpRequestException($"more than {MaxRedirects} redirects");
    }

    private async Task<HttpResponseMessage> SendWithAuthAsync(HttpMethod method, Uri url, string scope,
        IReadOnlyList<string>? accept, long? rangeFrom, CancellationToken ct)
    {
        var retriedAuth = false;
        var invalidTokenRetried = false;
        while (true)
        {
            using var request = new HttpRequestMessage(method, url);
            if (accept is not null)
                foreach (var a in accept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(a));
            if (rangeFrom is > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            request.Headers.Authorization = AuthorizationFor(url, scope);

            using var firstByte = CancellationTokenSource.CreateLinkedTokenSource(ct);
            firstByte.CancelAfter(_timeouts.FirstByte);
            var started = Stopwatch.GetTimestamp();
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, firstByte.Token);
            Log.UpstreamCall(_log, Name, method.Method, url.GetLeftPart(UriPartial.Path), (int)response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds, RateLimitRemaining(response));

            if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
            var challenge = response.Headers.WwwAuthenticate.Select(h => AuthChallenge.Parse(h.ToString())).FirstOrDefault(c => c is not null);
            if (challenge is null) return response;
            var isBearer = challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
            if (isBearer && challenge.Error == "invalid_token" && !invalidTokenRetried)
            {
                _tokens.Invalidate(TokenCache.Key(challenge, scope, _credentials?.Username));
                invalidTokenRetried = true;
            }
            else if (retriedAuth) return response;
            else if (!isBearer && _credentials is null) return response;

            retriedAuth = true;
            response.Dispose();
            _challenges[url.Authority] = challenge;
            if (isBearer) await _tokens.GetAsync(challenge, scope, _credentials, ct);
        }
    }

    private AuthenticationHeaderValue? AuthorizationFor(Uri url, string scope)
    {
        if (!_challenges.TryGetValue(url.Authority, out var challenge)) return null; // never send credentials to a host that did not ask
        if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            var token = _tokens.TryGet(TokenCache.Key(challenge, scope, _credentials?.Username));
            return token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        }
        return _credentials is null ? null : new AuthenticationHeaderValue("Basic", _credentials.BasicValue);
    }

    private UpstreamException? Classify(HttpResponseMessage response, Uri endpoint)
    {
        var status = (int)response.StatusCode;
        if (status is >= 200 and < 300) return null;
        var where = $"upstream {Name} endpoint {endpoint.Authority}";
        var code = UpstreamErrorBody.TryReadCode(response);
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

    private static string? RateLimitRemaining(HttpResponseMessage r) =>
        r.Headers.TryGetValues("ratelimit-remaining", out var v) ? v.FirstOrDefault() : null;

    private static string Describe(HttpRequestException e) =>
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

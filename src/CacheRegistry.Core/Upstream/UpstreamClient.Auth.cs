using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace CacheRegistry.Upstream;

// One endpoint's request: redirects followed by hand, each target checked; the auth challenge
// answered with the endpoint's credentials only on the endpoint's own origin.
public sealed partial class UpstreamClient
{
    /// <summary>Set on requests to hosts other than the endpoint's: the connect-time check of the addresses (against DNS rebinding).</summary>
    public static readonly HttpRequestOptionsKey<AddressReach> EndpointReachKey = new("cacheregistry.endpoint-reach");
    /// <summary>Set on a request by the connect callback when the request made a new connection (rather than taking a pooled one).</summary>
    public static readonly HttpRequestOptionsKey<bool> NewConnectionKey = new("cacheregistry.new-connection");

    private async Task<HttpResponseMessage> SendToEndpointAsync(UpstreamEndpoint endpoint, UpstreamRequest request, Uri url, string scope, CancellationToken ct)
    {
        for (var hop = 0; ; hop++)
        {
            var response = await SendWithAuthAsync(endpoint, request, url, scope, ct);
            if (!IsRedirect(response.StatusCode)) return response;
            var location = response.Headers.Location;
            response.Dispose();
            var where = $"upstream {Name} endpoint {endpoint.Authority}";
            if (location is null || !Uri.TryCreate(url, location, out var next))
                throw new UpstreamException(UpstreamFailure.BadResponse, $"{where} answered a redirect without a usable Location");
            if (hop == MaxRedirects)
                throw new UpstreamException(UpstreamFailure.BadResponse, $"{where} redirected more than {MaxRedirects} times (last to {next.GetLeftPart(UriPartial.Authority)})");
            if (await RefusalAsync(endpoint, next, ct) is { } why)
                throw new UpstreamException(UpstreamFailure.BadResponse, $"{where} redirected to {Shown(next)}: refused, {why}");
            url = next;
        }
    }

    /// <summary>Why the cache must not follow the upstream to <paramref name="target"/>, or null when it may.</summary>
    private async Task<string?> RefusalAsync(UpstreamEndpoint endpoint, Uri target, CancellationToken ct)
    {
        if (target.Scheme is not ("http" or "https")) return $"only http and https are followed, not {target.Scheme}:";
        if (endpoint.IsSameOrigin(target) || AllowListed(target)) return null;
        try
        {
            return TargetPolicy.Refusal(await _resolve(target.DnsSafeHost, ct), await endpoint.ReachAsync(_resolve, ct)) is { } why
                ? $"{why} (list the host in Registry:Upstreams:{Name}:AllowRedirectsTo if it is meant)"
                : null;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return $"its host does not resolve ({e.Message})";
        }
    }

    private async Task<HttpResponseMessage> SendWithAuthAsync(UpstreamEndpoint endpoint, UpstreamRequest upstreamRequest, Uri url, string scope, CancellationToken ct)
    {
        // Credentials live on their endpoint's origin: a redirect target gets none, whatever it asks.
        var ownOrigin = endpoint.IsSameOrigin(url);
        // Passthrough: the client's own credentials take the place of the cache's, on the origin only.
        var client = IsPassthrough ? ClientCredentials.Current : null;
        var credentials = !ownOrigin ? null : IsPassthrough ? (endpoint.IsOrigin ? client?.Basic : null) : endpoint.Credentials;
        var staticToken = !ownOrigin || !endpoint.IsOrigin ? null : IsPassthrough ? client?.BearerToken : _options.Token;
        var retriedAuth = false;
        var invalidTokenRetried = false;
        while (true)
        {
            using var request = new HttpRequestMessage(upstreamRequest.Method, url);
            if (upstreamRequest.Accept is { } accept)
                foreach (var a in accept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(a));
            if (upstreamRequest.RangeFrom is { } from) request.Headers.Range = new RangeHeaderValue(from, upstreamRequest.RangeTo);
            if (!ownOrigin && !AllowListed(url)) request.Options.Set(EndpointReachKey, await endpoint.ReachAsync(_resolve, ct));
            request.Headers.Authorization = AuthorizationFor(url, scope, credentials, staticToken);

            using var firstByte = new Common.Deadline(_timeouts.FirstByte, _time, ct);
            var started = Stopwatch.GetTimestamp();
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, firstByte.Token);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested && !request.Options.TryGetValue(NewConnectionKey, out _))
            {
                throw new PooledConnectionSilentException(e);
            }
            var remaining = Header(response, "ratelimit-remaining");
            endpoint.RecordRateLimit(remaining, Header(response, "ratelimit-limit"));
            Log.UpstreamCall(_log, Name, upstreamRequest.Method.Method, url.GetLeftPart(UriPartial.Path), (int)response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds, remaining is null ? "" : $" (ratelimit-remaining {remaining})");

            if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
            var challenge = response.Headers.WwwAuthenticate.Select(h => AuthChallenge.Parse(h.ToString())).FirstOrDefault(c => c is not null);
            if (challenge is null) return response;
            var isBearer = challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
            var tokenCredentials = isBearer ? await RealmCredentialsAsync(endpoint, challenge, url, credentials, ct) : null;
            if (isBearer && challenge.Error == "invalid_token" && !invalidTokenRetried && staticToken is null)
            {
                _tokens.Invalidate(TokenCache.Key(challenge, scope, tokenCredentials?.Identity));
                invalidTokenRetried = true;
            }
            else if (retriedAuth) return response;
            else if (!isBearer && credentials is null) return response;

            retriedAuth = true;
            response.Dispose();
            _challenges[url.Authority] = challenge;
            if (isBearer && staticToken is null)
                await _tokens.GetAsync(challenge, scope, tokenCredentials, IsCheckedRealm(challenge.Realm, endpoint) ? await endpoint.ReachAsync(_resolve, ct) : null, ct,
                    fresh: invalidTokenRetried);
        }
    }

    /// <summary>
    /// The credentials a token realm may have: only over https or on the endpoint's own host, and
    /// only a realm the cache may reach at all (a realm is a redirect target like any other).
    /// </summary>
    private async Task<UpstreamCredentials?> RealmCredentialsAsync(UpstreamEndpoint endpoint, AuthChallenge challenge, Uri url, UpstreamCredentials? credentials,
        CancellationToken ct)
    {
        var where = $"upstream {Name} endpoint {endpoint.Authority}";
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm))
            throw new UpstreamException(UpstreamFailure.BadResponse, $"{where} named a token realm that is not a URL");
        if (!realm.Host.Equals(url.Host, StringComparison.OrdinalIgnoreCase) && await RefusalAsync(endpoint, realm, ct) is { } why)
            throw new UpstreamException(UpstreamFailure.BadResponse, $"{where} named token realm {Shown(realm)}: refused, {why}");
        if (credentials is null || realm.Scheme == "https" || realm.Host.Equals(endpoint.BaseUri.Host, StringComparison.OrdinalIgnoreCase)) return credentials;
        if (_realmsRefused.TryAdd(realm.GetLeftPart(UriPartial.Path), true)) Log.RealmWithoutCredentials(_log, Name, Shown(realm));
        return null;
    }

    private AuthenticationHeaderValue? AuthorizationFor(Uri url, string scope, UpstreamCredentials? credentials, string? staticToken)
    {
        if (!_challenges.TryGetValue(url.Authority, out var challenge)) return null; // never send credentials to a host that did not ask
        if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            var token = staticToken ?? _tokens.TryGet(TokenCache.Key(challenge, scope, credentials?.Identity))
                ?? _tokens.TryGet(TokenCache.Key(challenge, scope, null));
            return token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        }
        return credentials is null ? null : new AuthenticationHeaderValue("Basic", credentials.BasicValue);
    }

    private bool AllowListed(Uri url) => TargetPolicy.IsAllowListed(_options.AllowRedirectsTo, url.Host);

    // A realm on another host, not allow-listed, is checked again when its connection is made.
    private bool IsCheckedRealm(string? realm, UpstreamEndpoint endpoint) =>
        Uri.TryCreate(realm, UriKind.Absolute, out var r) && !r.Host.Equals(endpoint.BaseUri.Host, StringComparison.OrdinalIgnoreCase) && !AllowListed(r);

    // Hosts and paths only: signed query strings carry credentials of their own.
    private static string Shown(Uri url) => url.GetLeftPart(UriPartial.Path);

    private static bool IsRedirect(HttpStatusCode s) => s is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault() : null;
}

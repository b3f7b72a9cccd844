using CacheRegistry.Cluster;
using CacheRegistry.Telemetry;
using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;

namespace CacheRegistry.Upstream;

/// <summary>
/// Bearer tokens from registry token services, cached per realm + service + scope + identity until
/// shortly before they expire. Concurrent requests for one token share one fetch; with replicas, a
/// token one of them fetched is used by all (<see cref="ISharedState"/>), so a scope costs the token
/// service one request per cluster rather than one per replica.
/// </summary>
public sealed class TokenCache(HttpClient http, TimeProvider time, TimeoutOptions timeouts, ISharedState? shared = null)
{
    private readonly ISharedState _shared = shared ?? NothingShared.Instance;

    /// <summary>Token answers are a few KiB; an endless one must not grow the process.</summary>
    public const int MaxResponseBytes = 64 * 1024;

    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new();
    private readonly SingleFlight<string, (string, DateTimeOffset)> _fetches = new();

    public static string Key(AuthChallenge c, string scope, string? identity) =>
        $"{c.Realm}|{c.Service}|{scope}|{identity}";

    public string? TryGet(string key) =>
        _tokens.TryGetValue(key, out var t) && t.Expires > time.GetUtcNow() ? t.Token : null;

    public void Invalidate(string key) => _tokens.TryRemove(key, out _);

    /// <param name="endpointReach">Where the upstream's endpoint is, when the realm is another host: checked again at connect time.</param>
    /// <param name="fresh">The upstream refused the last token: fetch a new one, whatever the replicas hold.</param>
    public async Task<string> GetAsync(AuthChallenge challenge, string scope, UpstreamCredentials? credentials, AddressReach? endpointReach, CancellationToken ct,
        bool fresh = false)
    {
        var key = Key(challenge, scope, credentials?.Identity);
        if (TryGet(key) is { } cached) return cached;
        var (token, expires) = await _fetches.RunAsync(key, () => SharedOrFetchAsync(key, challenge, scope, credentials, endpointReach, fresh), ct);
        _tokens[key] = (token, expires);
        return token;
    }

    private async Task<(string, DateTimeOffset)> SharedOrFetchAsync(string key, AuthChallenge challenge, string scope, UpstreamCredentials? credentials,
        AddressReach? endpointReach, bool fresh)
    {
        // Hashed: identities (a passthrough user's name) are not written out in the store.
        var sharedKey = SharedKey.Hashed("token", key);
        if (!fresh && await _shared.GetAsync(sharedKey, CancellationToken.None) is { } known && SharedToken.Parse(known) is { } token
            && token.Expires > time.GetUtcNow())
            return (token.Token, token.Expires);
        var (value, expires) = await FetchAsync(challenge, scope, credentials, endpointReach);
        await _shared.SetAsync(sharedKey, JsonSerializer.Serialize(new SharedToken(value, expires)), expires, CancellationToken.None);
        return (value, expires);
    }

    private sealed record SharedToken(string Token, DateTimeOffset Expires)
    {
        public static SharedToken? Parse(string json)
        {
            try
            {
                return JsonSerializer.Deserialize<SharedToken>(json) is { Token.Length: > 0 } t ? t : null;
            }
            catch (JsonException)
            {
                return null; // written by another version: fetch
            }
        }
    }

    private async Task<(string, DateTimeOffset)> FetchAsync(AuthChallenge challenge, string scope, UpstreamCredentials? credentials, AddressReach? endpointReach)
    {
        var realm = challenge.Realm is { } r && Uri.TryCreate(r, UriKind.Absolute, out var parsed) ? parsed
            : throw new UpstreamException(UpstreamFailure.Unauthorized, "token challenge has no usable realm");
        var service = $"token service {realm.Authority}";
        using var span = Telemetry.Tracing.Source.StartActivity("upstream token");
        span?.SetTag("server.address", realm.Authority).SetTag("cacheregistry.scope", scope);
        var query = new List<string>();
        if (!string.IsNullOrEmpty(challenge.Service)) query.Add("service=" + Uri.EscapeDataString(challenge.Service));
        // Several scopes are space-separated here and one parameter each in the request, as Docker sends them.
        query.AddRange(scope.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => "scope=" + Uri.EscapeDataString(s)));
        var url = new UriBuilder(realm) { Query = string.Join('&', new[] { realm.Query.TrimStart('?') }.Where(q => q.Length > 0).Concat(query)) }.Uri;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (endpointReach is { } reach) request.Options.Set(UpstreamClient.EndpointReachKey, reach);
        if (credentials is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credentials.BasicValue);
        using var cts = new CancellationTokenSource(timeouts.FirstByte + timeouts.Idle, time);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            span?.SetTag("http.response.status_code", (int)response.StatusCode);
            if (!response.IsSuccessStatusCode) span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error);
            if (!response.IsSuccessStatusCode)
                throw new UpstreamException(
                    response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden
                        ? UpstreamFailure.Unauthorized : UpstreamFailure.Unavailable,
                    $"{service} answered {(int)response.StatusCode} for scope '{scope}'");
            using var doc = JsonDocument.Parse(await ReadCappedAsync(response, service, cts.Token));
            var root = doc.RootElement;
            var token = (root.ValueKind == JsonValueKind.Object ? Text(root, "token") ?? Text(root, "access_token") : null)
                ?? throw new UpstreamException(UpstreamFailure.Unauthorized, $"{service} returned no token");
            var lifetime = root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var secs) && secs > 0 ? secs : 60;
            // Renew a little early so a token never expires in flight.
            var expires = time.GetUtcNow().AddSeconds(Math.Max(5, lifetime - 10));
            return (token, expires);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or JsonException)
        {
            span.Fail(e);
            throw new UpstreamException(UpstreamFailure.Unavailable, $"{service} failed: {e.Message}", e);
        }
    }

    /// <summary>A token response is small: anything past <see cref="MaxResponseBytes"/> is refused, whatever the headers say.</summary>
    private static async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, string service, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength > MaxResponseBytes)
            throw new UpstreamException(UpstreamFailure.BadResponse, $"{service} announced a {response.Content.Headers.ContentLength}-byte answer; at most {MaxResponseBytes} are read");
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxResponseBytes + 1];
        var total = 0;
        int n;
        while (total < buffer.Length && (n = await body.ReadAsync(buffer.AsMemory(total), ct)) > 0) total += n;
        if (total > MaxResponseBytes) throw new UpstreamException(UpstreamFailure.BadResponse, $"{service} sent more than {MaxResponseBytes} bytes; refused");
        return buffer[..total];
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;
}

public sealed record UpstreamCredentials(string Username, string Password)
{
    /// <summary>
    /// Whose tokens these credentials get, for the token cache: the user name for the cache's own
    /// credentials; for a client's (passthrough) the name and a hash of the password, so a wrong
    /// password never reaches a token someone else's right one fetched.
    /// </summary>
    public string Identity { get; init; } = Username;

    public string BasicValue => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Username + ":" + Password));
}

using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using CacheRegistry.Oci;

namespace CacheRegistry.Upstream;

/// <summary>
/// Bearer tokens from registry token services, cached per realm + service + scope + identity until
/// shortly before they expire. Concurrent requests for one token share one fetch.
/// </summary>
public sealed class TokenCache(HttpClient http, TimeProvider time, TimeoutOptions timeouts)
{
    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new();
    private readonly SingleFlight<string, (string, DateTimeOffset)> _fetches = new();

    public static string Key(AuthChallenge c, string scope, string? identity) =>
        $"{c.Realm}|{c.Service}|{scope}|{identity}";

    public string? TryGet(string key) =>
        _tokens.TryGetValue(key, out var t) && t.Expires > time.GetUtcNow() ? t.Token : null;

    public void Invalidate(string key) => _tokens.TryRemove(key, out _);

    public async Task<string> GetAsync(AuthChallenge challenge, string scope, UpstreamCredentials? credentials, CancellationToken ct)
    {
        var key = Key(challenge, scope, credentials?.Username);
        if (TryGet(key) is { } cached) return cached;
        var (token, expires) = await _fetches.RunAsync(key, () => FetchAsync(challenge, scope, credentials), ct);
        _tokens[key] = (token, expires);
        return token;
    }

    private async Task<(string, DateTimeOffset)> FetchAsync(AuthChallenge challenge, string scope, UpstreamCredentials? credentials)
    {
        var realm = challenge.Realm ?? throw new UpstreamException(UpstreamFailure.Unauthorized, "token challenge has no realm");
        var query = new List<string>();
        if (!string.IsNullOrEmpty(challenge.Service)) query.Add("service=" + Uri.EscapeDataString(challenge.Service));
        if (!string.IsNullOrEmpty(scope)) query.Add("scope=" + Uri.EscapeDataString(scope));
        var url = realm + (query.Count == 0 ? "" : (realm.Contains('?') ? "&" : "?") + string.Join('&', query));
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (credentials is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credentials.BasicValue);
        using var cts = new CancellationTokenSource(timeouts.FirstByte + timeouts.Idle);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            throw new UpstreamException(UpstreamFailure.Unavailable, $"token service {new Uri(realm).Authority} failed: {e.Message}", e);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw new UpstreamException(
                    response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden
                        ? UpstreamFailure.Unauthorized : UpstreamFailure.Unavailable,
                    $"token service {new Uri(realm).Authority} answered {(int)response.StatusCode} for scope '{scope}'");
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cts.Token));
            var root = doc.RootElement;
            var token = (root.TryGetProperty("token", out var t) ? t.GetString() : null)
                ?? (root.TryGetProperty("access_token", out var a) ? a.GetString() : null)
                ?? throw new UpstreamException(UpstreamFailure.Unauthorized, $"token service {new Uri(realm).Authority} returned no token");
            var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var secs) && secs > 0 ? secs : 60;
            // Renew a little early so a token never expires in flight.
            var expires = time.GetUtcNow().AddSeconds(Math.Max(5, lifetime - 10));
            return (token, expires);
        }
    }
}

public sealed record UpstreamCredentials(string Username, string Password)
{
    public string BasicValue => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Username + ":" + Password));
}

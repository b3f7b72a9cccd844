using System.Net;
using System.Net.Http.Headers;

namespace CacheRegistry.Upstream;

// The cache's own credentials for a push it forwards (when clients sign in at the cache, their
// credentials are the cache's, not the registry's).
public sealed partial class UpstreamClient
{
    /// <summary>
    /// What to send as Authorization when forwarding a push to <paramref name="name"/> at the origin:
    /// the configured token, Basic credentials, or a token for <c>repository:name:pull,push</c> from
    /// the registry's token service (and <c>repository:from:pull</c> when a blob is mounted from
    /// <paramref name="mountFrom"/>, without which the registry would start an upload instead).
    /// Null when the registry asks for nothing or none is configured.
    /// </summary>
    public async Task<AuthenticationHeaderValue?> PushAuthorizationAsync(string name, string? mountFrom, CancellationToken ct)
    {
        if (_options.Token is { Length: > 0 } token) return new AuthenticationHeaderValue("Bearer", token);
        var origin = Origin;
        if (!_challenges.TryGetValue(origin.Authority, out var challenge))
        {
            using var ping = new HttpRequestMessage(HttpMethod.Get, new Uri(origin.BaseUri, "v2/"));
            using var firstByte = new Common.Deadline(_timeouts.FirstByte, _time, ct);
            using var response = await Volatile.Read(ref _http).SendAsync(ping, HttpCompletionOption.ResponseHeadersRead, firstByte.Token);
            challenge = response.StatusCode == HttpStatusCode.Unauthorized
                ? response.Headers.WwwAuthenticate.Select(h => AuthChallenge.Parse(h.ToString())).FirstOrDefault(c => c is not null)
                : null;
            if (challenge is null) return null;
            _challenges[origin.Authority] = challenge;
        }
        var credentials = origin.Credentials;
        if (!challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
            return credentials is null ? null : new AuthenticationHeaderValue("Basic", credentials.BasicValue);
        var realmCredentials = await RealmCredentialsAsync(origin, challenge, origin.BaseUri, credentials, ct);
        AddressReach? reach = IsCheckedRealm(challenge.Realm, origin) ? await origin.ReachAsync(_resolve, ct) : null;
        return new AuthenticationHeaderValue("Bearer", await _tokens.GetAsync(challenge, PushScope(name, mountFrom), realmCredentials, reach, ct));
    }

    /// <summary>The token scopes of a push (space-separated: the token request sends one <c>scope</c> each).</summary>
    internal static string PushScope(string name, string? mountFrom) =>
        $"repository:{name}:pull,push" + (mountFrom is null || mountFrom == name ? "" : $" repository:{mountFrom}:pull");
}

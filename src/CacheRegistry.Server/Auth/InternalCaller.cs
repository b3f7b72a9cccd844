using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// Jobs the server runs through its own /v2 API (warm runs from the admin API, scheduled
/// Registry:Sync) sign in with a secret made at start, sent in <see cref="Header"/> and accepted
/// from loopback only. They pull what the admin token's holder or the configuration named, so the
/// access rules do not apply to them; with login on they no longer fail with 401.
/// </summary>
internal sealed class InternalCaller
{
    public const string Header = "X-CacheRegistry-Internal";
    /// <summary>The user such a job is (not a name an htpasswd file can hold: it has no colon, but parentheses no client sends as a user).</summary>
    public const string User = "(cacheregistry)";

    private readonly byte[] _secret = Encoding.ASCII.GetBytes(Convert.ToHexString(RandomNumberGenerator.GetBytes(32)));

    /// <summary>A client for the server's own address that signs in as <see cref="User"/>.</summary>
    public HttpClient CreateClient()
    {
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Add(Header, Encoding.ASCII.GetString(_secret));
        return http;
    }

    public bool Accepts(HttpContext ctx) =>
        ctx.Request.Headers.TryGetValue(Header, out var sent) && ctx.Connection.RemoteIpAddress is { } from && IPAddress.IsLoopback(from)
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(sent.ToString()), _secret);
}

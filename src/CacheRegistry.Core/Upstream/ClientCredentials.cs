using System.Security.Cryptography;
using System.Text;

namespace CacheRegistry.Upstream;

/// <summary>
/// The credentials a client sent (Basic, or a bearer token it obtained), for upstreams set to
/// ClientCredentials=Passthrough. They live in the request's async flow only (and in the fills it
/// starts): never logged, never written anywhere, never sent to an origin other than that
/// upstream's own (and its token service, under the usual realm checks).
/// </summary>
public sealed class ClientCredentials
{
    private static readonly AsyncLocal<ClientCredentials?> Flow = new();

    private ClientCredentials(UpstreamCredentials? basic, string? bearerToken, string identity)
    {
        Basic = basic;
        BearerToken = bearerToken;
        Identity = identity;
    }

    public UpstreamCredentials? Basic { get; }
    public string? BearerToken { get; }
    /// <summary>Who this is, for caching access decisions and tokens: the user name and a hash of the secret.</summary>
    public string Identity { get; }

    /// <summary>The current request's client credentials (null: anonymous).</summary>
    public static ClientCredentials? Current
    {
        get => Flow.Value;
        set => Flow.Value = value;
    }

    /// <summary>Reads an Authorization header; null for none, an empty Basic, or a scheme other than Basic and Bearer.</summary>
    public static ClientCredentials? Parse(string header)
    {
        var space = header.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0) return null;
        var (scheme, value) = (header[..space], header[(space + 1)..].Trim());
        if (scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) && value.Length > 0)
            return new ClientCredentials(null, value, "bearer#" + Hash(value));
        if (!scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)) return null;
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(value));
        }
        catch (FormatException)
        {
            return null;
        }
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0) return null;
        var (user, password) = (text[..colon], text[(colon + 1)..]);
        var identity = $"{user}#{Hash(password)}";
        return new ClientCredentials(new UpstreamCredentials(user, password) { Identity = identity }, null, identity);
    }

    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)))[..16];
}

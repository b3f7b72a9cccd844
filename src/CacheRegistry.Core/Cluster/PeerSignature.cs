using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CacheRegistry.Oci;

namespace CacheRegistry.Cluster;

/// <summary>
/// Signs a replica's request for another replica's fill: an HMAC of the digest, the offset and the
/// time, keyed with the shared secret. The secret itself never travels, so an address planted in
/// the lease record learns nothing it could replay for long.
/// </summary>
public static class PeerSignature
{
    public const string Scheme = "CacheRegistry-Peer";
    public static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(1);

    public static string Header(string secret, Digest digest, long from, DateTimeOffset now)
    {
        var t = now.ToUnixTimeSeconds();
        return $"{Scheme} t={t.ToString(CultureInfo.InvariantCulture)},s={Mac(secret, digest, from, t)}";
    }

    public static bool Verify(string secret, string? header, Digest digest, long from, DateTimeOffset now)
    {
        if (header is null || !header.StartsWith(Scheme + " t=", StringComparison.Ordinal)) return false;
        var fields = header[(Scheme.Length + 3)..].Split(",s=");
        if (fields.Length != 2 || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var t)) return false;
        if (Math.Abs(now.ToUnixTimeSeconds() - t) > MaxSkew.TotalSeconds) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(secret, digest, from, t)), Encoding.ASCII.GetBytes(fields[1]));
    }

    private static string Mac(string secret, Digest digest, long from, long t) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret),
            Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{digest}\n{from}\n{t}"))));
}

using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace CacheRegistry.Oci;

/// <summary>A content digest such as <c>sha256:9f86…</c>, validated against the OCI grammar.</summary>
public readonly partial record struct Digest(string Algorithm, string Hex)
{
    public override string ToString() => Algorithm + ":" + Hex;

    [GeneratedRegex(@"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+\z")]
    private static partial Regex Grammar();

    [GeneratedRegex(@"^[a-f0-9]{64}\z")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex(@"^[a-f0-9]{128}\z")]
    private static partial Regex Sha512Hex();

    /// <summary>True when <paramref name="text"/> fits the digest grammar (possibly with an unsupported algorithm).</summary>
    public static bool LooksLikeDigest(string text) => text.Contains(':') && Grammar().IsMatch(text);

    public static bool TryParse(string? text, out Digest digest)
    {
        digest = default;
        if (text is null || text.Length > 256 || !Grammar().IsMatch(text)) return false;
        var colon = text.IndexOf(':');
        var algorithm = text[..colon];
        var hex = text[(colon + 1)..];
        var valid = algorithm switch
        {
            "sha256" => Sha256Hex().IsMatch(hex),
            "sha512" => Sha512Hex().IsMatch(hex),
            _ => false,
        };
        if (!valid) return false;
        digest = new Digest(algorithm, hex);
        return true;
    }

    public static Digest Parse(string text) =>
        TryParse(text, out var d) ? d : throw new FormatException($"'{text}' is not a valid digest");

    public static Digest Sha256Of(ReadOnlySpan<byte> content) =>
        new("sha256", Convert.ToHexStringLower(SHA256.HashData(content)));

    /// <summary>The digest a manifest is named by: of its bytes, or of its signed payload for schema 1.</summary>
    public static Digest OfManifest(byte[] content) =>
        Schema1Signature.Payload(content) is { } payload ? Sha256Of(payload) : Sha256Of(content);

    /// <summary>True when the manifest bytes are the content this digest names (see <see cref="OfManifest"/>).</summary>
    public bool MatchesManifest(byte[] content) =>
        MatchesContent(content) || (Schema1Signature.Payload(content) is { } payload && MatchesContent(payload));

    /// <summary>A hasher for this digest's algorithm.</summary>
    public IncrementalHash CreateHasher() => IncrementalHash.CreateHash(
        Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    public bool Matches(ReadOnlySpan<byte> hash) =>
        string.Equals(Convert.ToHexStringLower(hash), Hex, StringComparison.Ordinal);

    public bool MatchesContent(ReadOnlySpan<byte> content)
    {
        using var hasher = CreateHasher();
        hasher.AppendData(content);
        return Matches(hasher.GetHashAndReset());
    }
}

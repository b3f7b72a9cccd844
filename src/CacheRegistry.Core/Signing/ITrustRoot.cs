namespace CacheRegistry.Signing;

/// <summary>
/// Decides whose signature a signature is. A policy's keys are one (<see cref="KeySet"/>); keyless
/// signing would be another: the layer's Fulcio certificate checked against the sigstore root and
/// its Rekor entry against the log's key, which needs that trust root (TUF) and so the internet.
/// </summary>
public interface ITrustRoot
{
    /// <returns>Who signed (a key's fingerprint), or null when nobody this root trusts did.</returns>
    string? SignedBy(byte[] payload, byte[] signature, SignatureMaterial material);
}

/// <summary>What a cosign signature layer carries beside the signature (keyless signing's evidence).</summary>
public sealed record SignatureMaterial(string? Certificate, string? Chain, string? Bundle);

/// <summary>A policy's public keys: any one of them admits.</summary>
public sealed class KeySet(IReadOnlyList<VerificationKey> keys) : ITrustRoot
{
    public IReadOnlyList<VerificationKey> Keys => keys;

    public string? SignedBy(byte[] payload, byte[] signature, SignatureMaterial material) =>
        keys.FirstOrDefault(k => k.Verifies(payload, signature))?.Fingerprint;
}

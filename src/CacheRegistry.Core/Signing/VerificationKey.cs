using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

namespace CacheRegistry.Signing;

/// <summary>
/// A public key from a PEM file (<c>-----BEGIN PUBLIC KEY-----</c>, as cosign writes it) and the
/// checks cosign's signatures need: ECDSA with a DER signature, RSA (PKCS #1 v1.5 or PSS), Ed25519
/// (pure, or Ed25519ph as newer cosign may sign). Identified by the SHA-256 of its SubjectPublicKeyInfo.
/// </summary>
public sealed class VerificationKey : IDisposable
{
    private readonly ECDsa? _ecdsa;
    private readonly RSA? _rsa;
    private readonly Ed25519PublicKeyParameters? _ed25519;

    private VerificationKey(string source, byte[] spki, ECDsa? ecdsa, RSA? rsa, Ed25519PublicKeyParameters? ed25519, string kind)
    {
        Source = source;
        Fingerprint = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(spki));
        Kind = kind;
        (_ecdsa, _rsa, _ed25519) = (ecdsa, rsa, ed25519);
    }

    /// <summary>Where the key came from (its file).</summary>
    public string Source { get; }

    /// <summary><c>sha256:&lt;hex&gt;</c> of the key's SubjectPublicKeyInfo: what the ledger and logs name.</summary>
    public string Fingerprint { get; }

    /// <summary>ECDSA P-256, RSA 4096, Ed25519…: for logs and the start-up summary.</summary>
    public string Kind { get; }

    public static VerificationKey Load(string path) => Parse(File.ReadAllText(path), path);

    /// <exception cref="FormatException">Not a PEM public key of a supported kind; the message says which.</exception>
    public static VerificationKey Parse(string pem, string source)
    {
        if (!PemEncoding.TryFind(pem, out var fields)) throw new FormatException("no PEM block found (expected -----BEGIN PUBLIC KEY-----)");
        var label = pem[fields.Label];
        if (label != "PUBLIC KEY") throw new FormatException($"a PEM '{label}' block; expected a PUBLIC KEY (cosign.pub), never a private key");
        var der = Convert.FromBase64String(pem[fields.Base64Data]);
        try
        {
            if (Imported(ECDsa.Create, der) is { } ecdsa) return new VerificationKey(source, der, ecdsa, null, null, $"ECDSA P-{ecdsa.KeySize}");
            if (Imported(RSA.Create, der) is { } rsa) return new VerificationKey(source, der, null, rsa, null, $"RSA {rsa.KeySize}");
            if (PublicKeyFactory.CreateKey(der) is Ed25519PublicKeyParameters ed25519)
                return new VerificationKey(source, der, null, null, ed25519, "Ed25519");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or SecurityUtilityException)
        {
            throw new FormatException($"not a readable public key ({e.Message})", e);
        }
        throw new FormatException("a public key of a kind cosign does not sign with (expected ECDSA P-256/P-384, RSA or Ed25519)");
    }

    // The key when the SubjectPublicKeyInfo is of its algorithm; disposed and null otherwise.
    private static T? Imported<T>(Func<T> create, byte[] der) where T : AsymmetricAlgorithm
    {
        var key = create();
        try
        {
            key.ImportSubjectPublicKeyInfo(der, out _);
            return key;
        }
        catch (CryptographicException)
        {
            key.Dispose();
            return null;
        }
    }

    /// <summary>Whether <paramref name="signature"/> is this key's signature of <paramref name="message"/>.</summary>
    public bool Verifies(byte[] message, byte[] signature)
    {
        if (_ecdsa is not null)
        {
            // cosign hashes with SHA-256 whatever the curve; sigstore's newer clients use the curve's own hash.
            if (Ecdsa(HashAlgorithmName.SHA256)) return true;
            return _ecdsa.KeySize switch
            {
                384 => Ecdsa(HashAlgorithmName.SHA384),
                521 => Ecdsa(HashAlgorithmName.SHA512),
                _ => false,
            };
        }
        if (_rsa is not null)
            return _rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                || _rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        return Ed25519(new Ed25519Signer()) || Ed25519(new Ed25519phSigner([]));

        bool Ecdsa(HashAlgorithmName hash) => _ecdsa.VerifyData(message, signature, hash, DSASignatureFormat.Rfc3279DerSequence);

        bool Ed25519(Org.BouncyCastle.Crypto.ISigner verifier)
        {
            verifier.Init(false, _ed25519);
            verifier.BlockUpdate(message, 0, message.Length);
            return verifier.VerifySignature(signature);
        }
    }

    public override string ToString() => $"{Kind} {Fingerprint[..19]}… ({Source})";

    public void Dispose()
    {
        _ecdsa?.Dispose();
        _rsa?.Dispose();
    }
}

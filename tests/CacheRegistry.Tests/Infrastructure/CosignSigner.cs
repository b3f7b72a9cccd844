using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A key pair that signs as cosign does: ECDSA (DER, SHA-256), RSA (PKCS #1 v1.5, SHA-256) or Ed25519.</summary>
public sealed class SigningKey : IDisposable
{
    private readonly AsymmetricAlgorithm? _key;
    private readonly Ed25519PrivateKeyParameters? _ed25519;

    private SigningKey(AsymmetricAlgorithm? key, Ed25519PrivateKeyParameters? ed25519, string publicPem) =>
        (_key, _ed25519, PublicPem) = (key, ed25519, publicPem);

    public string PublicPem { get; }

    public static SigningKey Ecdsa(ECCurve curve)
    {
        var key = ECDsa.Create(curve);
        return new SigningKey(key, null, key.ExportSubjectPublicKeyInfoPem());
    }

    public static SigningKey EcdsaP256() => Ecdsa(ECCurve.NamedCurves.nistP256);

    public static SigningKey Rsa()
    {
        var key = RSA.Create(2048);
        return new SigningKey(key, null, key.ExportSubjectPublicKeyInfoPem());
    }

    public static SigningKey Ed25519()
    {
        var generator = new Ed25519KeyPairGenerator();
        generator.Init(new Ed25519KeyGenerationParameters(new SecureRandom()));
        var pair = generator.GenerateKeyPair();
        var spki = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded();
        return new SigningKey(null, (Ed25519PrivateKeyParameters)pair.Private, PemEncoding.WriteString("PUBLIC KEY", spki));
    }

    public byte[] Sign(byte[] payload)
    {
        switch (_key)
        {
            case ECDsa ecdsa: return ecdsa.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            case RSA rsa: return rsa.SignData(payload, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        var signer = new Ed25519Signer();
        signer.Init(true, _ed25519);
        signer.BlockUpdate(payload, 0, payload.Length);
        return signer.GenerateSignature();
    }

    /// <summary>Writes the public key as cosign.pub into <paramref name="dir"/>; returns its path.</summary>
    public string WritePublicKey(string dir, string name = "cosign.pub")
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, PublicPem);
        return path;
    }

    public void Dispose() => _key?.Dispose();
}

/// <summary>
/// Signs images as <c>cosign sign --key</c> does, from its published format: a simple-signing
/// payload naming the image's digest, pushed as a layer of a manifest under the
/// <c>sha256-&lt;hex&gt;.sig</c> tag, its signature (base64) in the layer's annotation.
/// </summary>
public static class CosignSigner
{
    public const string SimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json";

    /// <summary>One signature layer: the payload and the annotation's value (null: no annotation).</summary>
    public sealed record Layer(byte[] Payload, string? Signature);

    public static byte[] Payload(string dockerReference, string digest, string type = "cosign container image signature") =>
        Encoding.UTF8.GetBytes($$"""{"critical":{"identity":{"docker-reference":"{{dockerReference}}"},"image":{"docker-manifest-digest":"{{digest}}"},"type":"{{type}}"},"optional":null}""");

    public static Layer SignedLayer(SigningKey key, byte[] payload) => new(payload, Convert.ToBase64String(key.Sign(payload)));

    public static string TagFor(string digest) => digest.Replace(':', '-') + ".sig";

    /// <summary>Signs <paramref name="digest"/> in <paramref name="repository"/> with <paramref name="key"/> and pushes the signature.</summary>
    public static Task<Pushed> SignAsync(string registryUrl, string repository, string digest, SigningKey key) =>
        PushAsync(registryUrl, repository, digest, [SignedLayer(key, Payload($"{new Uri(registryUrl).Authority}/{repository}", digest))]);

    /// <summary>Pushes a signature manifest for <paramref name="digest"/> made of <paramref name="layers"/> (any of them may be wrong on purpose).</summary>
    public static async Task<Pushed> PushAsync(string registryUrl, string repository, string digest, IReadOnlyList<Layer> layers)
    {
        var config = "{}"u8.ToArray();
        var configDigest = await RegistryPush.BlobAsync(registryUrl, repository, config);
        var descriptors = new List<object>();
        foreach (var payload in layers.Select(l => l.Payload).DistinctBy(RegistryPush.DigestOf)) await RegistryPush.BlobAsync(registryUrl, repository, payload);
        foreach (var layer in layers)
        {
            var annotations = layer.Signature is null ? new Dictionary<string, string>() : new() { ["dev.cosignproject.cosign/signature"] = layer.Signature };
            descriptors.Add(new { mediaType = SimpleSigning, size = layer.Payload.Length, digest = RegistryPush.DigestOf(layer.Payload), annotations });
        }
        var manifest = JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2,
            mediaType = "application/vnd.oci.image.manifest.v1+json",
            config = new { mediaType = "application/vnd.oci.image.config.v1+json", size = config.Length, digest = configDigest },
            layers = descriptors,
        });
        var (pushed, size) = await RegistryPush.ManifestAsync(registryUrl, repository, TagFor(digest), manifest, "application/vnd.oci.image.manifest.v1+json");
        return new Pushed(pushed, size, manifest);
    }

    public const string BundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    public const string SignPredicate = "https://sigstore.dev/cosign/sign/v1";

    /// <summary>The in-toto statement cosign 3 signs for an image: its digest as the subject.</summary>
    public static byte[] Statement(string name, string digest, string predicateType = SignPredicate) => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
    {
        ["_type"] = "https://in-toto.io/Statement/v1",
        ["subject"] = new[] { new { name, digest = new Dictionary<string, string> { [digest.Split(':')[0]] = digest.Split(':')[1] } } },
        ["predicateType"] = predicateType,
        ["predicate"] = new { },
    });

    /// <summary>DSSE's pre-authentication encoding, written here from the DSSE spec (the cache has its own).</summary>
    public static byte[] Pae(string type, byte[] body) =>
        [.. Encoding.UTF8.GetBytes($"DSSEv1 {Encoding.UTF8.GetByteCount(type)} {type} {body.Length} "), .. body];

    /// <summary>A sigstore bundle v0.3 as <c>cosign sign --key</c> (cosign 3) writes it: a DSSE envelope of <paramref name="statement"/>, signed over its PAE.</summary>
    public static byte[] Bundle(SigningKey key, byte[] statement, string? signature = null) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        mediaType = BundleType,
        verificationMaterial = new { publicKey = new { hint = "" } },
        dsseEnvelope = new
        {
            payload = Convert.ToBase64String(statement),
            payloadType = "application/vnd.in-toto+json",
            signatures = new[] { new { sig = signature ?? Convert.ToBase64String(key.Sign(Pae("application/vnd.in-toto+json", statement))), keyid = "" } },
        },
    });

    /// <summary>
    /// Attaches bundles to <paramref name="image"/> as cosign 3 does on a registry without the
    /// referrers API (distribution 2.8): one artifact manifest each, listed in the fallback tag.
    /// </summary>
    public static async Task AttachAsync(string registryUrl, TestImage image, params byte[][] bundles)
    {
        var subject = (image.Digest, (int)new FileInfo(TestImage.BlobPath(image.LayoutDir, image.Digest)).Length, image.MediaType);
        var referrers = new List<(string, int, string)>();
        foreach (var bundle in bundles)
        {
            var (digest, size, _) = await RegistryPush.ArtifactAsync(registryUrl, image.Repository, null, BundleType, [(BundleType, bundle)], subject);
            referrers.Add((digest, size, BundleType));
        }
        await RegistryPush.FallbackTagAsync(registryUrl, image.Repository, image.Digest, referrers);
    }
}

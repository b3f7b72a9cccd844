using System.Security.Cryptography;
using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Signing;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Unit;

/// <summary>Keys of every kind cosign signs with, signatures made here and by a second implementation, and hostile signature manifests.</summary>
public sealed class SignatureTests
{
    private static readonly Digest Image = Digest.Sha256Of("an image manifest"u8);

    public static TheoryData<string> Kinds => new() { "p256", "p384", "rsa", "ed25519" };

    private static SigningKey KeyOf(string kind) => kind switch
    {
        "p256" => SigningKey.EcdsaP256(),
        "p384" => SigningKey.Ecdsa(ECCurve.NamedCurves.nistP384),
        "rsa" => SigningKey.Rsa(),
        _ => SigningKey.Ed25519(),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_key_verifies_its_own_signature_and_no_other(string kind)
    {
        using var signer = KeyOf(kind);
        using var other = KeyOf(kind);
        using var key = VerificationKey.Parse(signer.PublicPem, "cosign.pub");
        var payload = CosignSigner.Payload("registry.test/app", Image.ToString());
        Assert.True(key.Verifies(payload, signer.Sign(payload)));
        Assert.False(key.Verifies(payload, other.Sign(payload)));
        var altered = (byte[])payload.Clone();
        altered[^3] ^= 1;
        Assert.False(key.Verifies(altered, signer.Sign(payload)));
        Assert.False(key.Verifies(payload, [1, 2, 3]));
        Assert.StartsWith("sha256:", key.Fingerprint);
    }

    /// <summary>
    /// Signatures made by pyca/cryptography (OpenSSL), as Go's crypto makes them for cosign: DER
    /// ECDSA, PKCS #1 v1.5 RSA, pure Ed25519. An encoding this cache got wrong would fail here.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Signatures_made_by_a_second_implementation_verify(string kind)
    {
        var payload = CosignSigner.Payload("registry.test/app", Image.ToString());
        var script = """
            import base64, json, sys
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
            kind, data = sys.argv[1], sys.stdin.buffer.read()
            if kind == "p256": k = ec.generate_private_key(ec.SECP256R1()); s = k.sign(data, ec.ECDSA(hashes.SHA256()))
            elif kind == "p384": k = ec.generate_private_key(ec.SECP384R1()); s = k.sign(data, ec.ECDSA(hashes.SHA256()))
            elif kind == "rsa": k = rsa.generate_private_key(65537, 2048); s = k.sign(data, padding.PKCS1v15(), hashes.SHA256())
            else: k = ed25519.Ed25519PrivateKey.generate(); s = k.sign(data)
            pem = k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            print(json.dumps({"pem": pem, "sig": base64.b64encode(s).decode()}))
            """;
        var dir = Net.TempDir("pysign");
        var scriptPath = Path.Combine(dir, "sign.py");
        var payloadPath = Path.Combine(dir, "payload");
        await File.WriteAllTextAsync(scriptPath, script);
        await File.WriteAllBytesAsync(payloadPath, payload);
        var output = await ProcessRunner.RunCheckedAsync("/bin/sh", ["-c", $"python3 {scriptPath} {kind} < {payloadPath}"]);
        using var json = JsonDocument.Parse(output);
        using var key = VerificationKey.Parse(json.RootElement.GetProperty("pem").GetString()!, "python.pub");
        Assert.True(key.Verifies(payload, Convert.FromBase64String(json.RootElement.GetProperty("sig").GetString()!)), key.Kind);
    }

    [Fact]
    public void Ed25519ph_signatures_as_newer_cosign_makes_them_verify_too()
    {
        var generator = new Org.BouncyCastle.Crypto.Generators.Ed25519KeyPairGenerator();
        generator.Init(new Org.BouncyCastle.Crypto.Parameters.Ed25519KeyGenerationParameters(new Org.BouncyCastle.Security.SecureRandom()));
        var pair = generator.GenerateKeyPair();
        var signer = new Org.BouncyCastle.Crypto.Signers.Ed25519phSigner([]);
        signer.Init(true, pair.Private);
        var payload = CosignSigner.Payload("registry.test/app", Image.ToString());
        signer.BlockUpdate(payload, 0, payload.Length);
        var spki = Org.BouncyCastle.X509.SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded();
        using var key = VerificationKey.Parse(PemEncoding.WriteString("PUBLIC KEY", spki), "ph.pub");
        Assert.True(key.Verifies(payload, signer.GenerateSignature()));
    }

    [Theory]
    [InlineData("not a key", "no PEM block")]
    [InlineData("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "never a private key")]
    [InlineData("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "public key")]
    public void What_is_not_a_public_key_is_refused_with_a_reason(string pem, string reason)
    {
        var e = Assert.Throws<FormatException>(() => VerificationKey.Parse(pem, "bad.pub"));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void A_payload_must_name_the_image_and_be_a_cosign_image_signature()
    {
        CosignSignatures.CheckPayload(CosignSigner.Payload("r/app", Image.ToString()), Image);
        var other = Digest.Sha256Of("another image"u8);
        Assert.Contains("a signature moved from another image",
            Assert.Throws<SignatureException>(() => CosignSignatures.CheckPayload(CosignSigner.Payload("r/app", other.ToString()), Image)).Message);
        Assert.Contains("not 'cosign container image signature'",
            Assert.Throws<SignatureException>(() => CosignSignatures.CheckPayload(CosignSigner.Payload("r/app", Image.ToString(), "something else"), Image)).Message);
        Assert.Contains("not JSON", Assert.Throws<SignatureException>(() => CosignSignatures.CheckPayload("{\"critical\":"u8.ToArray(), Image)).Message);
        Assert.Contains("no 'critical'", Assert.Throws<SignatureException>(() => CosignSignatures.CheckPayload("[]"u8.ToArray(), Image)).Message);
    }

    [Fact]
    public void Hostile_signature_manifests_are_refused_with_a_reason()
    {
        static string Layer(string? signature, long size = 100) => JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["mediaType"] = CosignSignatures.SimpleSigning, ["size"] = size, ["digest"] = Image.ToString(),
            ["annotations"] = signature is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [CosignSignatures.SignatureAnnotation] = signature },
        });
        static byte[] Manifest(IEnumerable<string> layers) => System.Text.Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"layers":[{{string.Join(",", layers)}}]}""");
        string Refused(byte[] manifest) => Assert.Throws<SignatureException>(() => CosignSignatures.ReadLayers(manifest)).Message;

        Assert.Contains("1000 layers", Refused(Manifest(Enumerable.Repeat(Layer("AAAA"), 1000))));
        Assert.Contains("at most 4096 are read", Refused(Manifest([Layer(new string('A', 100_000))])));
        Assert.Contains("payload is at most", Refused(Manifest([Layer("AAAA", 10L << 20)])));
        Assert.Contains("no simple-signing layer", Refused("""{"layers":[{"mediaType":"application/octet-stream"}]}"""u8.ToArray()));
        Assert.Contains("no layers", Refused("""{"layers":"x"}"""u8.ToArray()));
        Assert.Contains("not JSON", Refused("<html>"u8.ToArray()));
        Assert.Contains("not JSON", Refused(System.Text.Encoding.UTF8.GetBytes(new string('[', 100) + new string(']', 100))));

        var layers = CosignSignatures.ReadLayers(Manifest([Layer("bm90IGEgc2lnbmF0dXJ"), Layer(null)]));
        Assert.Contains("not base64", Assert.Throws<SignatureException>(() => CosignSignatures.SignatureBytes(layers[0])).Message);
        Assert.Contains("no dev.cosignproject.cosign/signature annotation", Assert.Throws<SignatureException>(() => CosignSignatures.SignatureBytes(layers[1])).Message);
    }

    [Fact]
    public void Dsse_signs_the_pre_authentication_encoding_of_the_spec()
    {
        // The DSSE specification's own example (protocol.md).
        Assert.Equal("DSSEv1 29 http://example.com/HelloWorld 11 hello world"u8.ToArray(), SigstoreBundles.Pae("http://example.com/HelloWorld", "hello world"u8.ToArray()));
        var statement = CosignSigner.Statement("r/app", Image.ToString());
        Assert.Equal(CosignSigner.Pae(SigstoreBundles.InTotoPayload, statement), SigstoreBundles.Pae(SigstoreBundles.InTotoPayload, statement));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_cosign_3_bundle_verifies_with_its_key_over_the_envelope(string kind)
    {
        using var signer = KeyOf(kind);
        using var key = VerificationKey.Parse(signer.PublicPem, "cosign.pub");
        var envelope = SigstoreBundles.ReadEnvelope(CosignSigner.Bundle(signer, CosignSigner.Statement("r/app", Image.ToString())));
        Assert.Equal(SigstoreBundles.SignPredicate, SigstoreBundles.PredicateType(envelope));
        Assert.True(key.Verifies(SigstoreBundles.Pae(envelope.PayloadType, envelope.Payload), Assert.Single(envelope.Signatures)));
        Assert.False(key.Verifies(envelope.Payload, envelope.Signatures[0])); // the payload alone is not what is signed
        SigstoreBundles.CheckStatement(envelope.Payload, Image);
    }

    [Fact]
    public void A_bundle_statement_must_name_the_image_and_sign_it()
    {
        var other = Digest.Sha256Of("another image"u8);
        string Refused(byte[] statement) => Assert.Throws<SignatureException>(() => SigstoreBundles.CheckStatement(statement, Image)).Message;
        Assert.Contains($"the signature is for {other}, not for {Image}", Refused(CosignSigner.Statement("r/app", other.ToString())));
        Assert.Contains("not 'https://sigstore.dev/cosign/sign/v1'", Refused(CosignSigner.Statement("r/app", Image.ToString(), "https://slsa.dev/provenance/v1")));
        Assert.Contains("not an in-toto statement", Refused("""{"_type":"x","predicateType":"https://sigstore.dev/cosign/sign/v1"}"""u8.ToArray()));
        Assert.Contains("for nothing", Refused("""{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://sigstore.dev/cosign/sign/v1","subject":"x"}"""u8.ToArray()));
        Assert.Contains("not JSON", Refused("{"u8.ToArray()));
    }

    [Fact]
    public void Hostile_bundles_are_refused_with_a_reason()
    {
        static byte[] Json(object o) => JsonSerializer.SerializeToUtf8Bytes(o);
        string Refused(byte[] bundle) => Assert.Throws<SignatureException>(() => SigstoreBundles.ReadEnvelope(bundle)).Message;
        const string type = SigstoreBundles.MediaTypePrefix + ".v0.3+json";
        var payload = Convert.ToBase64String("{}"u8);

        Assert.Contains("no DSSE envelope", Refused(Json(new { mediaType = type, messageSignature = new { signature = "AAAA" } })));
        Assert.Contains("no sigstore bundle media type", Refused(Json(new { mediaType = "text/plain", dsseEnvelope = new { } })));
        Assert.Contains("17 signatures", Refused(Json(new { mediaType = type, dsseEnvelope = new { payload, signatures = Enumerable.Repeat(new { sig = "AAAA" }, 17) } })));
        Assert.Contains("0 signatures", Refused(Json(new { mediaType = type, dsseEnvelope = new { payload } })));
        Assert.Contains("not base64", Refused(Json(new { mediaType = type, dsseEnvelope = new { payload, signatures = new[] { new { sig = "bm90IGEgc2lnbmF0dXJ" } } } })));
        Assert.Contains("payload is missing", Refused(Json(new { mediaType = type, dsseEnvelope = new { signatures = new[] { new { sig = "AAAA" } } } })));
        Assert.Contains("not JSON", Refused(System.Text.Encoding.UTF8.GetBytes(new string('[', 100) + new string(']', 100))));
        Assert.Contains("not a JSON object", Refused("[]"u8.ToArray()));

        string Layer(object manifest) => Assert.Throws<SignatureException>(() => SigstoreBundles.BundleLayer(Json(manifest))).Message;
        Assert.Contains("a bundle is at most", Layer(new { layers = new[] { new { mediaType = type, digest = Image.ToString(), size = 10L << 20 } } }));
        Assert.Contains("no bundle layer", Layer(new { layers = new[] { new { mediaType = "application/vnd.oci.image.layer.v1.tar", digest = Image.ToString(), size = 10 } } }));
        Assert.Contains("no sha256 digest", Layer(new { layers = new[] { new { mediaType = type, digest = "md5:abc", size = 10 } } }));
    }
}

using System.Text;
using System.Text.Json;
using CacheRegistry.Oci;
using static CacheRegistry.Signing.CosignSignatures;

namespace CacheRegistry.Signing;

/// <summary>A DSSE envelope from a sigstore bundle: what was signed (the payload and its type) and each signature.</summary>
public sealed record DsseEnvelope(string PayloadType, byte[] Payload, IReadOnlyList<byte[]> Signatures, SignatureMaterial Material);

/// <summary>
/// cosign 3's image signatures (its default since 3.0): a sigstore bundle attached to the image as
/// an OCI referrer (<c>artifactType application/vnd.dev.sigstore.bundle.v0.3+json</c>, one layer),
/// holding a DSSE envelope of an in-toto statement whose subject is the image's digest and whose
/// predicate type is <see cref="SignPredicate"/>. The signature is over DSSE's pre-authentication
/// encoding of the payload. Untrusted input, read with bounds like <see cref="CosignSignatures"/>.
/// </summary>
public static class SigstoreBundles
{
    public const string MediaTypePrefix = "application/vnd.dev.sigstore.bundle";
    public const string SignPredicate = "https://sigstore.dev/cosign/sign/v1";
    public const string InTotoPayload = "application/vnd.in-toto+json";

    /// <summary>A bundle with a key hint or a certificate and log entries is a few KiB.</summary>
    public const long MaxBundleBytes = 256 * 1024;

    /// <summary>Bundles read per image: one per <c>cosign sign</c>, more for attestations.</summary>
    public const int MaxBundles = 16;

    private const int MaxSignatures = 16;
    private static readonly JsonDocumentOptions Bounded = new() { MaxDepth = 16 };

    public static bool IsBundle(string? artifactType) => artifactType?.StartsWith(MediaTypePrefix, StringComparison.Ordinal) == true;

    /// <summary>The bundle blob a referrer manifest holds (its one layer of a bundle media type).</summary>
    /// <exception cref="SignatureException">Not a bundle manifest, or a bundle over the size bound.</exception>
    public static (Digest Digest, long Size) BundleLayer(byte[] manifest) => Read(manifest, "the bundle manifest", root =>
    {
        var layer = root.TryGetProperty("layers", out var layers) && layers.ValueKind == JsonValueKind.Array && layers.GetArrayLength() > 0 ? layers[0] : default;
        if (layer.ValueKind != JsonValueKind.Object || !IsBundle(Text(layer, "mediaType"))) throw new SignatureException("the bundle manifest has no bundle layer");
        if (!Digest.TryParse(Text(layer, "digest"), out var digest) || digest.Algorithm != "sha256") throw new SignatureException("the bundle layer has no sha256 digest");
        var size = layer.TryGetProperty("size", out var s) && s.TryGetInt64(out var n) ? n : -1;
        if (size is < 0 or > MaxBundleBytes) throw new SignatureException($"the bundle layer declares {size} bytes; a bundle is at most {MaxBundleBytes}");
        return (digest, size);
    });

    /// <exception cref="SignatureException">No DSSE envelope (a bare message signature signs no statement), or one that cannot be read.</exception>
    public static DsseEnvelope ReadEnvelope(byte[] bundle) => Read(bundle, "the bundle", root =>
    {
        if (!IsBundle(Text(root, "mediaType"))) throw new SignatureException("the bundle has no sigstore bundle media type");
        if (!root.TryGetProperty("dsseEnvelope", out var envelope) || envelope.ValueKind != JsonValueKind.Object)
            throw new SignatureException("the bundle holds no DSSE envelope (a message signature names no image)");
        var payload = Base64(Text(envelope, "payload"), "the envelope's payload");
        var signatures = envelope.TryGetProperty("signatures", out var list) && list.ValueKind == JsonValueKind.Array ? list : default;
        if (signatures.ValueKind != JsonValueKind.Array || signatures.GetArrayLength() is 0 or > MaxSignatures)
            throw new SignatureException($"the envelope has {(signatures.ValueKind == JsonValueKind.Array ? signatures.GetArrayLength() : 0)} signatures; 1 to {MaxSignatures} are read");
        var sigs = signatures.EnumerateArray().Select(s => Base64(Text(s, "sig"), "an envelope signature")).ToList();
        var material = root.TryGetProperty("verificationMaterial", out var m) && m.ValueKind == JsonValueKind.Object
            && m.TryGetProperty("certificate", out var c) ? Text(c, "rawBytes") : null;
        return new DsseEnvelope(Text(envelope, "payloadType") ?? "", payload, sigs, new SignatureMaterial(material, null, null));
    });

    /// <summary>DSSE's pre-authentication encoding: <c>DSSEv1 &lt;len(type)&gt; &lt;type&gt; &lt;len(body)&gt; &lt;body&gt;</c>, what is signed.</summary>
    public static byte[] Pae(string payloadType, byte[] payload)
    {
        var type = Encoding.UTF8.GetBytes(payloadType);
        var head = Encoding.ASCII.GetBytes($"DSSEv1 {type.Length} ");
        var mid = Encoding.ASCII.GetBytes($" {payload.Length} ");
        return [.. head, .. type, .. mid, .. payload];
    }

    /// <summary>The statement's predicate type (what the bundle attests), null when it is not an in-toto statement.</summary>
    public static string? PredicateType(DsseEnvelope envelope)
    {
        if (envelope.PayloadType != InTotoPayload) return null;
        try
        {
            using var json = JsonDocument.Parse(envelope.Payload, Bounded);
            return Text(json.RootElement, "predicateType");
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Checks the signed statement is an image signature whose subject is <paramref name="image"/>.</summary>
    /// <exception cref="SignatureException">Another statement, or a signature of another image.</exception>
    public static void CheckStatement(byte[] payload, Digest image) => Read(payload, "the signed statement", root =>
    {
        var type = Text(root, "_type");
        if (type is not ("https://in-toto.io/Statement/v1" or "https://in-toto.io/Statement/v0.1"))
            throw new SignatureException($"the signed statement's type is '{Short(type)}', not an in-toto statement");
        var predicate = Text(root, "predicateType");
        if (predicate != SignPredicate) throw new SignatureException($"the signed statement's predicate is '{Short(predicate)}', not '{SignPredicate}'");
        var subjects = root.TryGetProperty("subject", out var s) && s.ValueKind == JsonValueKind.Array ? s.EnumerateArray().Take(MaxSignatures).ToList() : [];
        var named = subjects.Select(x => x.ValueKind == JsonValueKind.Object && x.TryGetProperty("digest", out var d) ? Text(d, image.Algorithm) : null).ToList();
        if (!named.Contains(image.Hex, StringComparer.Ordinal))
            throw new SignatureException($"the signature is for {Short(named.FirstOrDefault(n => n is not null) is { } other ? $"{image.Algorithm}:{other}" : null)}, not for {image} (a signature moved from another image)");
        return true;
    });

    private static T Read<T>(byte[] bytes, string what, Func<JsonElement, T> read)
    {
        try
        {
            using var json = JsonDocument.Parse(bytes, Bounded);
            if (json.RootElement.ValueKind != JsonValueKind.Object) throw new SignatureException($"{what} is not a JSON object");
            return read(json.RootElement);
        }
        catch (JsonException e)
        {
            throw new SignatureException($"{what} is not JSON ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            throw new SignatureException($"{what} is not what it should be ({e.Message})");
        }
    }

    private static byte[] Base64(string? text, string what) =>
        string.IsNullOrEmpty(text) ? throw new SignatureException($"{what} is missing") : FromBase64(text, what);
}

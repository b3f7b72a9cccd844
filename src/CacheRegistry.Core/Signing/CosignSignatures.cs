using System.Text.Json;
using CacheRegistry.Oci;

namespace CacheRegistry.Signing;

/// <summary>One simple-signing layer of a cosign signature manifest: the payload blob and its signature.</summary>
public sealed record SignatureLayer(int Index, Digest Payload, long Size, string? Signature, SignatureMaterial Material);

/// <summary>
/// Reads what an upstream sends as a cosign signature manifest (the <c>sha256-&lt;hex&gt;.sig</c> tag):
/// layers of <c>application/vnd.dev.cosign.simplesigning.v1+json</c> with the signature in the
/// <c>dev.cosignproject.cosign/signature</c> annotation. Untrusted input: every count and length is bounded
/// and anything else is refused with a reason, never an exception of the parser's own.
/// </summary>
public static class CosignSignatures
{
    public const string SimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json";
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";

    /// <summary>One signature per <c>cosign sign</c>: a tag with more has been stuffed.</summary>
    public const int MaxLayers = 64;

    /// <summary>A simple-signing payload is a few hundred bytes; annotations (-a) make it more.</summary>
    public const long MaxPayloadBytes = 64 * 1024;

    /// <summary>Base64 of a DER ECDSA signature is ~96 characters, of an RSA-4096 one 684.</summary>
    public const int MaxSignatureChars = 4096;

    /// <summary>The signature tag cosign writes beside <paramref name="image"/>.</summary>
    public static string TagFor(Digest image) => Referrer.FallbackTag(image) + ".sig";

    /// <exception cref="SignatureException">Not a signature manifest this cache can read; the message says why.</exception>
    public static IReadOnlyList<SignatureLayer> ReadLayers(byte[] manifest)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(manifest, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new SignatureException($"the signature manifest is not JSON ({e.Message})");
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object
                || !json.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
                throw new SignatureException("the signature manifest has no layers");
            var count = layers.GetArrayLength();
            if (count > MaxLayers) throw new SignatureException($"the signature manifest has {count} layers; more than {MaxLayers} are not read");
            var found = new List<SignatureLayer>();
            var i = 0;
            foreach (var layer in layers.EnumerateArray())
            {
                if (Layer(layer, i++) is { } l) found.Add(l);
            }
            if (found.Count == 0) throw new SignatureException("the signature manifest has no simple-signing layer");
            return found;
        }
    }

    private static SignatureLayer? Layer(JsonElement layer, int index)
    {
        if (layer.ValueKind != JsonValueKind.Object || Text(layer, "mediaType") != SimpleSigning) return null;
        if (!Digest.TryParse(Text(layer, "digest"), out var digest) || digest.Algorithm != "sha256")
            throw new SignatureException($"signature layer {index} has no sha256 digest");
        var size = layer.TryGetProperty("size", out var s) && s.TryGetInt64(out var n) ? n : -1;
        if (size is < 0 or > MaxPayloadBytes) throw new SignatureException($"signature layer {index} declares {size} bytes; a payload is at most {MaxPayloadBytes}");
        string? signature = null, certificate = null, chain = null, bundle = null;
        if (layer.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object)
        {
            signature = Text(annotations, SignatureAnnotation);
            certificate = Text(annotations, "dev.sigstore.cosign/certificate");
            chain = Text(annotations, "dev.sigstore.cosign/chain");
            bundle = Text(annotations, "dev.sigstore.cosign/bundle");
        }
        if (signature is { Length: > MaxSignatureChars })
            throw new SignatureException($"signature layer {index}'s signature annotation is {signature.Length} characters; at most {MaxSignatureChars} are read");
        return new SignatureLayer(index, digest, size, signature, new SignatureMaterial(certificate, chain, bundle));
    }

    /// <summary>The signature bytes, or the reason they cannot be had.</summary>
    public static byte[] SignatureBytes(SignatureLayer layer)
    {
        if (string.IsNullOrEmpty(layer.Signature)) throw new SignatureException($"signature layer {layer.Index} has no {SignatureAnnotation} annotation");
        return FromBase64(layer.Signature, $"signature layer {layer.Index}'s signature");
    }

    /// <exception cref="SignatureException"><paramref name="what"/> is not base64.</exception>
    internal static byte[] FromBase64(string text, string what)
    {
        var bytes = new byte[text.Length];
        if (!Convert.TryFromBase64String(text, bytes, out var written)) throw new SignatureException($"{what} is not base64 (truncated or altered)");
        return bytes[..written];
    }

    /// <summary>
    /// Checks a simple-signing payload names <paramref name="image"/>: <c>critical.type</c> and
    /// <c>critical.image.docker-manifest-digest</c>.
    /// </summary>
    public static void CheckPayload(byte[] payload, Digest image)
    {
        try
        {
            using var json = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 16 });
            var critical = json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("critical", out var c) ? c : default;
            if (critical.ValueKind != JsonValueKind.Object) throw new SignatureException("the signed payload has no 'critical' section");
            var type = Text(critical, "type");
            if (type != "cosign container image signature")
                throw new SignatureException($"the signed payload's type is '{Short(type)}', not 'cosign container image signature'");
            var named = critical.TryGetProperty("image", out var i) && i.ValueKind == JsonValueKind.Object ? Text(i, "docker-manifest-digest") : null;
            if (named != image.ToString())
                throw new SignatureException($"the signature is for {Short(named)}, not for {image} (a signature moved from another image)");
        }
        catch (JsonException e)
        {
            throw new SignatureException($"the signed payload is not JSON ({e.Message})");
        }
    }

    internal static string? Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static string Short(string? text) => text is null ? "nothing" : text.Length <= 80 ? text : text[..80] + "…";
}

/// <summary>A signature that cannot be read or does not hold; the message is the reason given to the client.</summary>
public sealed class SignatureException(string message) : Exception(message);

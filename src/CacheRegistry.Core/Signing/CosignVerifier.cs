using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Signing;

/// <summary>
/// Checks an image's cosign key signatures: the <c>sha256-&lt;hex&gt;.sig</c> tag beside it, each
/// simple-signing layer's payload checked against the policy's trust root and then read for the
/// digest it names. The tag and the payloads go through the cache like any pull, so they are kept,
/// served stale when the upstream is down, exported with their image and read offline.
/// </summary>
public sealed class CosignVerifier(ManifestCache manifests, BlobCache blobs)
{
    public async Task<Verdict> VerifyAsync(RepositoryRef repo, Digest image, ITrustRoot trust, CancellationToken ct)
    {
        var tag = CosignSignatures.TagFor(image);
        ManifestResult signature;
        try
        {
            signature = await manifests.GetAsync(repo, tag, ct);
        }
        catch (RegistryError e) when (e.Status == 404)
        {
            return new Verdict(VerificationResult.NoSignature, $"unsigned: {repo.Key} has no signature tag {tag}");
        }
        catch (RegistryError e)
        {
            return new Verdict(VerificationResult.Error, $"the signature {repo.Key}:{tag} could not be fetched: {e.Message}");
        }
        IReadOnlyList<SignatureLayer> layers;
        try
        {
            layers = CosignSignatures.ReadLayers(signature.Manifest.Content);
        }
        catch (SignatureException e)
        {
            return new Verdict(VerificationResult.Invalid, $"malformed signature {tag}: {e.Message}");
        }
        var problems = new List<Verdict>();
        foreach (var layer in layers)
        {
            try
            {
                var bytes = CosignSignatures.SignatureBytes(layer);
                var payload = await ReadPayloadAsync(repo, layer, ct);
                var key = trust.SignedBy(payload, bytes, layer.Material)
                    ?? throw new SignatureException($"signature layer {layer.Index} was not made by a key of the policy (another key, or an altered payload)");
                CosignSignatures.CheckPayload(payload, image);
                return new Verdict(VerificationResult.Verified, $"signed by {key}", key);
            }
            catch (SignatureException e)
            {
                problems.Add(new Verdict(VerificationResult.Invalid, e.Message));
            }
            catch (Exception e) when (e is RegistryError or IOException)
            {
                problems.Add(new Verdict(VerificationResult.Error, $"signature payload {layer.Payload} could not be fetched: {e.Message}"));
            }
        }
        // A signature that is wrong outweighs one that could not be read.
        return problems.FirstOrDefault(p => p.Result == VerificationResult.Invalid) ?? problems[0];
    }

    private async Task<byte[]> ReadPayloadAsync(RepositoryRef repo, SignatureLayer layer, CancellationToken ct)
    {
        using var source = await blobs.OpenAsync(repo, layer.Payload, ct);
        if (source.Size is long size && size != layer.Size)
            throw new SignatureException($"signature layer {layer.Index}'s payload is {size} bytes, not the {layer.Size} its manifest declares");
        await using var stream = await source.OpenAsync(0, layer.Size, ct);
        var payload = new byte[layer.Size];
        await stream.ReadExactlyAsync(payload, ct);
        if (!layer.Payload.MatchesContent(payload)) throw new SignatureException($"signature layer {layer.Index}'s payload does not match {layer.Payload}");
        return payload;
    }
}

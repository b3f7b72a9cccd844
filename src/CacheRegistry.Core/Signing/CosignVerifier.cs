using System.Text.Json;
using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Signing;

/// <summary>
/// Checks an image's cosign key signatures in both of cosign's formats: the
/// <c>sha256-&lt;hex&gt;.sig</c> tag beside it (cosign 2: simple-signing payloads, each checked
/// against the policy's trust root and then read for the digest it names), and sigstore bundles
/// among its referrers (cosign 3's default: a DSSE-signed in-toto statement naming the image).
/// Tags, referrers, manifests and blobs go through the cache like any pull, so they are kept,
/// served stale when the upstream is down, exported with their image and read offline.
/// </summary>
public sealed class CosignVerifier(ManifestCache manifests, BlobCache blobs, ReferrersCache referrers)
{
    public async Task<Verdict> VerifyAsync(RepositoryRef repo, Digest image, ITrustRoot trust, CancellationToken ct)
    {
        var tagged = await FromTagAsync(repo, image, trust, ct);
        if (tagged.Result == VerificationResult.Verified) return tagged;
        var bundled = await FromBundlesAsync(repo, image, trust, ct);
        if (bundled is null) return tagged;
        return bundled.Result == VerificationResult.Verified ? bundled : Worse(tagged, bundled);
    }

    private async Task<Verdict> FromTagAsync(RepositoryRef repo, Digest image, ITrustRoot trust, CancellationToken ct)
    {
        var tag = CosignSignatures.TagFor(image);
        ManifestResult signature;
        try
        {
            signature = await manifests.GetAsync(repo, tag, ct);
        }
        catch (RegistryError e) when (e.Status == 404)
        {
            return new Verdict(VerificationResult.NoSignature, $"unsigned: {repo.Key} has no signature tag {tag} and no sigstore bundle among its referrers");
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
                var payload = await ReadBlobAsync(repo, layer.Payload, layer.Size, $"signature layer {layer.Index}'s payload", ct);
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
        return problems.Aggregate(Worse);
    }

    /// <summary>The verdict of the image's sigstore bundles, or null when it has none (nor any that could be listed).</summary>
    private async Task<Verdict?> FromBundlesAsync(RepositoryRef repo, Digest image, ITrustRoot trust, CancellationToken ct)
    {
        IReadOnlyList<Digest> found;
        try
        {
            found = BundleManifests((await referrers.GetAsync(repo, image, null, ct)).Index);
        }
        catch (RegistryError e)
        {
            return new Verdict(VerificationResult.Error, $"the referrers of {repo.Key}@{image} could not be fetched: {e.Message}");
        }
        var problems = new List<Verdict>();
        foreach (var manifest in found)
        {
            try
            {
                var (layer, size) = SigstoreBundles.BundleLayer((await manifests.GetAsync(repo, manifest.ToString(), ct)).Manifest.Content);
                var envelope = SigstoreBundles.ReadEnvelope(await ReadBlobAsync(repo, layer, size, $"bundle {manifest}", ct));
                // Attestations (SBOMs, provenance) are bundles too, signed alike: they say nothing about the image's signature.
                if (SigstoreBundles.PredicateType(envelope) is { } predicate && predicate != SigstoreBundles.SignPredicate) continue;
                var signed = SigstoreBundles.Pae(envelope.PayloadType, envelope.Payload);
                var key = envelope.Signatures.Select(s => trust.SignedBy(signed, s, envelope.Material)).FirstOrDefault(k => k is not null)
                    ?? throw new SignatureException($"bundle {manifest} was not signed by a key of the policy (another key, or an altered statement)");
                SigstoreBundles.CheckStatement(envelope.Payload, image);
                return new Verdict(VerificationResult.Verified, $"signed by {key}", key);
            }
            catch (SignatureException e)
            {
                problems.Add(new Verdict(VerificationResult.Invalid, e.Message));
            }
            catch (Exception e) when (e is RegistryError or IOException)
            {
                problems.Add(new Verdict(VerificationResult.Error, $"bundle {manifest} could not be fetched: {e.Message}"));
            }
        }
        return problems.Count == 0 ? null : problems.Aggregate(Worse);
    }

    /// <summary>The bundle manifests a referrers index lists (at most <see cref="SigstoreBundles.MaxBundles"/>).</summary>
    private static List<Digest> BundleManifests(byte[] index)
    {
        using var json = JsonDocument.Parse(index);
        return json.RootElement.GetProperty("manifests").EnumerateArray()
            .Where(m => SigstoreBundles.IsBundle(CosignSignatures.Text(m, "artifactType")))
            .Select(m => Digest.TryParse(CosignSignatures.Text(m, "digest"), out var d) ? d : (Digest?)null)
            .OfType<Digest>().Take(SigstoreBundles.MaxBundles).ToList();
    }

    // A signature that is wrong outweighs one that could not be read, which outweighs none at all.
    private static Verdict Worse(Verdict a, Verdict b) => Rank(b) > Rank(a) ? b : a;

    private static int Rank(Verdict v) => v.Result switch
    {
        VerificationResult.Invalid => 2,
        VerificationResult.Error => 1,
        _ => 0,
    };

    private async Task<byte[]> ReadBlobAsync(RepositoryRef repo, Digest digest, long declared, string what, CancellationToken ct)
    {
        using var source = await blobs.OpenAsync(repo, digest, ct);
        if (source.Size is long size && size != declared)
            throw new SignatureException($"{what} is {size} bytes, not the {declared} its manifest declares");
        await using var stream = await source.OpenAsync(0, declared, ct);
        var bytes = new byte[declared];
        await stream.ReadExactlyAsync(bytes, ct);
        if (!digest.MatchesContent(bytes)) throw new SignatureException($"{what} does not match {digest}");
        return bytes;
    }
}

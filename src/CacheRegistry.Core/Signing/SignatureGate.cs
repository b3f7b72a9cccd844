using System.Collections.Concurrent;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Signing;

/// <summary>
/// Serves a policy's repositories only what their publisher signed. A manifest is admitted when its
/// signature verifies; a verified index admits its children, an admitted manifest its blobs, and
/// signatures, attestations and SBOMs pass (they run nothing and are what clients verify with).
/// Admissions are kept per digest in memory and in the metadata store (digests are immutable);
/// refusals are remembered for <see cref="RegistryOptions.NegativeTtl"/>, since a signature may
/// be pushed at any time.
/// </summary>
public sealed partial class SignatureGate(SignaturePolicies policies, CosignVerifier verifier, IAdmissions store, ILedger ledger, CacheMetrics metrics,
    RegistryOptions options, TimeProvider time, ILogger<SignatureGate> log)
{
    private readonly ConcurrentDictionary<string, Admission> _admitted = new(StringComparer.Ordinal);
    // Manifests whose children and blobs were admitted by this process (once each).
    private readonly ConcurrentDictionary<string, bool> _expanded = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (Verdict Verdict, DateTimeOffset Until)> _refused = new(StringComparer.Ordinal);
    private readonly SingleFlight<string, Verdict> _flights = new();
    private const int MaxRemembered = 200_000;

    /// <exception cref="RegistryError">403 DENIED when an enforcing policy's check did not verify the manifest.</exception>
    public async Task DemandManifestAsync(RepositoryRef repo, string reference, StoredManifest manifest, CancellationToken ct)
    {
        if (policies.For(repo.Key) is not { } policy) return;
        var scope = ScopeOf(policy, repo);
        var key = KeyOf(scope, manifest.DigestText); // the text made once, not again on each request
        if (_expanded.ContainsKey(key)) return;
        var document = ManifestDocument.TryParse(manifest.Content);
        if (IsArtifact(reference, document))
        {
            await AdmitAsync(scope, manifest.Digest, document, "artifact", null);
            return;
        }
        var verdict = await _flights.RunAsync(key, () => DecideAsync(policy, repo, scope, key, reference, manifest, document), ct);
        if (verdict.Result == VerificationResult.Verified || !policy.Enforce) return;
        throw new RegistryError(403, "DENIED", $"{repo.Key}@{manifest.Digest} is refused by signature policy '{policy.Name}': {verdict.Reason}");
    }

    /// <exception cref="RegistryError">403 DENIED when an enforcing policy admitted no manifest of the repository that holds the blob.</exception>
    public async Task DemandBlobAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        if (policies.For(repo.Key) is not { Enforce: true } policy) return;
        var scope = ScopeOf(policy, repo);
        if (_admitted.ContainsKey(KeyOf(scope, digest)) || await LoadAsync(scope, digest, ct) is not null) return;
        throw new RegistryError(403, "DENIED",
            $"blob {digest} is refused by signature policy '{policy.Name}': no image of {repo.Key} that the policy admitted holds it (pull the image by tag or digest first)");
    }

    private async Task<Verdict> DecideAsync(SignaturePolicy policy, RepositoryRef repo, string scope, string key, string reference, StoredManifest manifest,
        ManifestDocument? document)
    {
        if (_refused.TryGetValue(key, out var refused) && refused.Until > time.GetUtcNow()) return refused.Verdict;
        if (_admitted.TryGetValue(key, out var known) || (known = await LoadAsync(scope, manifest.Digest, CancellationToken.None)) is not null)
        {
            await AdmitAsync(scope, manifest.Digest, document, known.How, known.Key);
            return new Verdict(VerificationResult.Verified, known.How, known.Key);
        }
        // Shared by every request for the digest: bounded by the cache's own timeouts, not by the first caller.
        using var bound = new CancellationTokenSource(options.Timeouts.FirstByte + options.Timeouts.Idle, time);
        var verdict = await verifier.VerifyAsync(repo, manifest.Digest, policy.Trust, bound.Token);
        metrics.SignatureChecked(policy.Name, verdict.Label);
        var tag = Digest.TryParse(reference, out _) ? null : reference;
        if (verdict.Result == VerificationResult.Verified)
        {
            Log.Verified(log, repo.Key, manifest.DigestText, policy.Name, verdict.Key!);
            await AdmitAsync(scope, manifest.Digest, document, "verified", verdict.Key);
        }
        else
        {
            if (policy.Enforce) Log.Denied(log, repo.Key, manifest.DigestText, policy.Name, verdict.Reason);
            else Log.Warned(log, repo.Key, manifest.DigestText, policy.Name, verdict.Reason);
            Remember(key, verdict);
        }
        await TryStoreAsync(() => ledger.AppendAsync(new LedgerEntry(time.GetUtcNow(), repo.Upstream.Name, repo.Name, tag, manifest.Digest, manifest.MediaType,
            manifest.Content.Length, "signature-policy", Check: new SignatureCheck(policy.Name, verdict.Label, verdict.Key)), CancellationToken.None));
        return verdict;
    }

    // Refusals expire; the map is swept when it grows, so requests for many refused digests cannot fill memory.
    private void Remember(string key, Verdict verdict)
    {
        if (options.NegativeTtl <= TimeSpan.Zero) return;
        var now = time.GetUtcNow();
        if (_refused.Count >= 4096)
            foreach (var (k, v) in _refused)
                if (v.Until <= now) _refused.TryRemove(k, out _);
        _refused[key] = (verdict, now + options.NegativeTtl);
    }

    /// <summary>The manifest, the manifests an index lists and the blobs an image holds, in memory and in the store.</summary>
    private async Task AdmitAsync(string scope, Digest digest, ManifestDocument? document, string how, string? signer)
    {
        var now = time.GetUtcNow();
        var admissions = new List<Admission> { new(digest, how, signer, now) };
        var contents = how == "artifact" ? "artifact" : "image";
        foreach (var child in document?.Manifests ?? []) admissions.Add(new Admission(child.Digest, how == "artifact" ? how : "index", signer, now));
        foreach (var blob in document?.ImageBlobs ?? []) admissions.Add(new Admission(blob.Digest, contents, signer, now));
        foreach (var layer in document?.Schema1Layers ?? []) admissions.Add(new Admission(layer, contents, signer, now));
        // Memory holds the recent ones; the store holds them all and is asked on a miss.
        if (_admitted.Count > MaxRemembered) _admitted.Clear();
        foreach (var a in admissions) _admitted.TryAdd(KeyOf(scope, a.Digest), a);
        if (_expanded.Count > MaxRemembered) _expanded.Clear();
        _expanded[KeyOf(scope, digest)] = true;
        await TryStoreAsync(() => store.AdmitAsync(scope, admissions, CancellationToken.None));
    }

    private async Task<Admission?> LoadAsync(string scope, Digest digest, CancellationToken ct)
    {
        Admission? found = null;
        await TryStoreAsync(async () => found = await store.GetAdmissionAsync(scope, digest, ct));
        if (found is not null && _admitted.Count < MaxRemembered) _admitted.TryAdd(KeyOf(scope, digest), found);
        return found;
    }

    // Admissions are kept per scope (a policy, by its name and keys, and a repository), then per digest.
    private static string ScopeOf(SignaturePolicy policy, RepositoryRef repo) => policy.Id + " " + repo.Key;
    private static string KeyOf(string scope, Digest digest) => KeyOf(scope, digest.ToString());
    private static string KeyOf(string scope, string digest) => scope + " " + digest;

    /// <summary>
    /// Signatures, attestations and SBOMs are not gated: cosign's tags beside an image, and
    /// manifests without a filesystem layer (no runtime unpacks or runs them).
    /// </summary>
    private static bool IsArtifact(string reference, ManifestDocument? document) =>
        Referrer.IsSubjectTag(reference)
        || document is { IsIndex: false, SchemaVersion: 2 } && !document.Layers.Any(l => l.MediaType is null || IsFilesystem(l.MediaType));

    private static bool IsFilesystem(string mediaType) =>
        mediaType.Contains(".tar", StringComparison.Ordinal) || mediaType.Contains("rootfs", StringComparison.Ordinal);

    // The store down: decisions still hold in memory; they are made again after a restart.
    private async Task TryStoreAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (StoreUnavailableException e)
        {
            Log.StoreDown(log, e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "signature verified: {Repository}@{Digest} by policy {Policy}, key {Key}")]
        public static partial void Verified(ILogger logger, string repository, string digest, string policy, string key);

        [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "signature policy {Policy} denies {Repository}@{Digest}: {Reason}")]
        public static partial void Denied(ILogger logger, string repository, string digest, string policy, string reason);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "signature policy {Policy} (warn) serves {Repository}@{Digest} though: {Reason}")]
        public static partial void Warned(ILogger logger, string repository, string digest, string policy, string reason);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "signature decisions kept in memory only: {Reason}")]
        public static partial void StoreDown(ILogger logger, string reason);
    }
}

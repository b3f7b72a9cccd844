using CacheRegistry.Telemetry;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

public sealed record ManifestResult(StoredManifest Manifest, CacheOutcome Outcome, string? Endpoint = null);

/// <summary>
/// Manifests by digest (immutable: fetched once, kept) and tags (fresh for TagTtl, then
/// revalidated with a HEAD under a deadline, stale served when the upstream fails).
/// </summary>
public sealed partial class ManifestCache(IMetadataStore store, HotCache hot, NegativeCache missing, ILedger ledger, BackgroundWork work,
    RegistryOptions options, TimeProvider time, ILogger<ManifestCache> log)
{
    private readonly SingleFlight<string, ManifestResult> _flights = new();

    public Task<ManifestResult> GetAsync(RepositoryRef repo, string reference, CancellationToken ct) =>
        Digest.TryParse(reference, out var digest) ? GetByDigestAsync(repo, digest, ct) : GetByTagAsync(repo, reference, ct);

    public async Task<ManifestResult> GetByDigestAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        var local = await LoadAsync(digest, ct);
        if (local is not null && await IsLinkedAsync(repo, digest, ct)) return new ManifestResult(local, CacheOutcome.Hit);
        await missing.ThrowIfMissingAsync(repo, digest.ToString(), "MANIFEST_UNKNOWN", ct);
        return await _flights.RunAsync($"{repo.Key}@{digest}", () => Owned(c => FetchUnlessMissingAsync(repo, digest.ToString(), c)), ct);
    }

    private async Task<ManifestResult> GetByTagAsync(RepositoryRef repo, string tag, CancellationToken ct)
    {
        var record = await GetTagAsync(repo, tag, ct);
        var cached = record is null ? null : await LoadAsync(record.Digest, ct);
        // Offline, what is cached is all there is: fresh by definition.
        if (cached is not null && (time.GetUtcNow() - record!.FetchedAt < options.TagTtl || repo.Upstream.IsOffline))
            return new ManifestResult(cached, CacheOutcome.Hit);
        await missing.ThrowIfMissingAsync(repo, tag, "MANIFEST_UNKNOWN", ct);

        var flight = _flights.RunAsync($"{repo.Key}:{tag}", () => Owned(c => cached is null
            ? FetchUnlessMissingAsync(repo, tag, c)
            : RevalidateAsync(repo, tag, record!, cached, c)), ct);
        if (cached is null) return await flight;
        try
        {
            return await flight.WaitAsync(options.RevalidateDeadline, time, ct);
        }
        catch (TimeoutException)
        {
            // The revalidation goes on (single-flight, bounded); the next request sees its result.
            Log.ServingStale(log, repo.Key, tag, record!.Digest.ToString(), $"the upstream did not confirm the tag within {options.RevalidateDeadline.TotalSeconds:0.#} s");
            return new ManifestResult(cached, CacheOutcome.Stale);
        }
    }

    /// <summary>What the cache holds under <paramref name="tag"/>, without asking the upstream; null when nothing.</summary>
    public async Task<StoredManifest?> PeekTagAsync(RepositoryRef repo, string tag, CancellationToken ct) =>
        await GetTagAsync(repo, tag, ct) is { } record ? await LoadAsync(record.Digest, ct) : null;

    /// <summary>
    /// Keeps an index this cache made (the referrers an upstream's API listed) under a tag of the
    /// repository, as if fetched: it outlives restarts and is what an offline cache answers with.
    /// </summary>
    public async Task KeepIndexAsync(RepositoryRef repo, string tag, byte[] content)
    {
        var manifest = new StoredManifest(Digest.Sha256Of(content), MediaTypes.OciIndex, content);
        hot.SetManifest(manifest);
        hot.SetLinked(repo.Key, manifest.Digest);
        await TryStoreAsync(async () =>
        {
            await store.PutManifestAsync(manifest, CancellationToken.None);
            await store.LinkAsync(repo.Key, [manifest.Digest, .. ManifestDocument.ReferencesOf(content)], CancellationToken.None);
            await PutTagAsync(repo, tag, manifest.Digest);
        });
    }

    /// <summary>
    /// A manifest pushed through the cache that the registry took (its answer named
    /// <paramref name="digest"/>). The pushed bytes are kept when they hash to that digest; the
    /// reference's remembered "not found" is forgotten; a tag is marked for revalidation, so the next
    /// pull asks the registry (a HEAD) what the tag is now instead of serving the old digest for
    /// TagTtl, and two pushes racing for a tag end where the registry says.
    /// </summary>
    public async Task PushedAsync(RepositoryRef repo, string reference, Digest digest, byte[]? content, string? contentType)
    {
        missing.Forget(repo, reference);
        missing.Forget(repo, digest.ToString());
        var document = content is null ? null : ManifestDocument.TryParse(content);
        var manifest = content is not null && digest.MatchesManifest(content) && document?.MediaTypeFor(contentType ?? "") is { } type
            ? new StoredManifest(digest, type, content) : null;
        var tag = Digest.TryParse(reference, out _) ? null : reference;
        var due = new TagRecord(digest, DateTimeOffset.UnixEpoch); // as old as can be: revalidated on the next read
        if (tag is not null)
        {
            // In memory first: with the metadata store down the push still moves this replica's view.
            hot.SetTag(repo.Key, tag, due);
            hot.ForgetTagList(repo.Key);
        }
        if (manifest is not null)
            await KeepAsync(repo, manifest, document, tag, due, () => new LedgerEntry(time.GetUtcNow(), repo.Upstream.Name, repo.Name, tag, digest,
                manifest.MediaType, manifest.Content.Length + document!.ContentSize, "push:" + repo.Upstream.Origin.Authority));
        else if (tag is not null)
            await TryStoreAsync(() => PutTagAsync(repo, tag, due));
    }

    /// <summary>
    /// Keeps a manifest in memory and in the store, linked to the repository with what it
    /// references, <paramref name="tag"/> (when given) at <paramref name="record"/>, and a ledger row
    /// the first time the store sees the digest. False when the metadata store is down.
    /// </summary>
    private async Task<bool> KeepAsync(RepositoryRef repo, StoredManifest manifest, ManifestDocument? document, string? tag, TagRecord record,
        Func<LedgerEntry> firstSeen)
    {
        hot.SetManifest(manifest);
        hot.SetLinked(repo.Key, manifest.Digest);
        RememberSizes(document);
        return await TryStoreAsync(async () =>
        {
            var known = await store.GetManifestAsync(manifest.Digest, CancellationToken.None) is not null;
            await store.PutManifestAsync(manifest, CancellationToken.None);
            await store.LinkAsync(repo.Key, [manifest.Digest, .. document?.References ?? []], CancellationToken.None);
            if (tag is not null) await PutTagAsync(repo, tag, record);
            if (!known) await ledger.AppendAsync(firstSeen(), CancellationToken.None);
        });
    }

    // A fetch shared by several requests belongs to none of them: it runs until its own bound or shutdown.
    private async Task<ManifestResult> Owned(Func<CancellationToken, Task<ManifestResult>> fetch)
    {
        using var owner = work.Bounded(options.Timeouts.FirstByte + options.Timeouts.Idle);
        return await fetch(owner.Token);
    }

    /// <summary>
    /// HEAD (free on Docker Hub) for the tag's digest, then a GET when it moved. Whatever fails on
    /// the way (refusal, timeout, 429, 5xx, a manifest that does not verify) leaves the stale
    /// digest in place; only an upstream that says the tag is gone gets a 404 through.
    /// </summary>
    private async Task<ManifestResult> RevalidateAsync(RepositoryRef repo, string tag, TagRecord stale, StoredManifest staleManifest, CancellationToken ct)
    {
        try
        {
            using var head = await repo.Upstream.HeadManifestAsync(repo.Name, tag, ct);
            if (Digest.TryParse(head.DockerContentDigest, out var current) && await LoadAsync(current, ct) is { } known)
            {
                await TryStoreAsync(async () =>
                {
                    await store.LinkAsync(repo.Key, [current], CancellationToken.None);
                    await PutTagAsync(repo, tag, current);
                });
                return new ManifestResult(known, CacheOutcome.Revalidated, head.Endpoint.Authority);
            }
            var fetched = await FetchAsync(repo, tag, ct);
            return fetched with { Outcome = CacheOutcome.Revalidated };
        }
        catch (UpstreamException e) when (e.Failure == UpstreamFailure.NotFound)
        {
            missing.Remember(repo, tag);
            throw e.ToRegistryError();
        }
        catch (RegistryError e) when (e.Status == 404)
        {
            throw;
        }
        catch (Exception e) when (e is UpstreamException or RegistryError or OperationCanceledException or HttpRequestException or IOException or TimeoutException)
        {
            Log.ServingStale(log, repo.Key, tag, stale.Digest.ToString(), e.Message);
            return new ManifestResult(staleManifest, CacheOutcome.Stale);
        }
    }

    /// <summary>
    /// A flight's fetch. The caller checked the remembered "not found" before joining, but a flight
    /// that failed with 404 may end between that check and the join: a new flight checks again.
    /// </summary>
    private Task<ManifestResult> FetchUnlessMissingAsync(RepositoryRef repo, string reference, CancellationToken ct)
    {
        missing.ThrowIfMissing(repo, reference, "MANIFEST_UNKNOWN");
        return FetchAsync(repo, reference, ct);
    }

    /// <summary>GETs a manifest by tag or digest, verifies it, stores it and links it to the repository.</summary>
    private async Task<ManifestResult> FetchAsync(RepositoryRef repo, string reference, CancellationToken ct)
    {
        try
        {
            var isTag = !Digest.TryParse(reference, out _);
            using var response = await repo.Upstream.GetManifestAsync(repo.Name, reference, ct);
            var content = await response.ReadSmallBodyAsync(options.MaxManifestBytes, ct);
            var where = $"upstream {repo.Upstream.Name} endpoint {response.Endpoint.Authority}";
            var digest = VerifiedDigest(reference, response.DockerContentDigest, content, where);
            var document = ManifestDocument.TryParse(content);
            // Only a manifest is kept and served as one: an HTML error page or an archive a
            // misbehaving mirror answers with would be served from the cache's own address.
            var mediaType = document?.MediaTypeFor(response.MediaType)
                ?? throw new RegistryError(502, "UNAVAILABLE", $"{where} answered '{reference}' with {Described(response.MediaType)} that is not a manifest; nothing was stored");
            var manifest = new StoredManifest(digest, mediaType, content);
            var tag = isTag ? reference : null;
            var stored = await KeepAsync(repo, manifest, document, tag, new TagRecord(digest, time.GetUtcNow()), () =>
            {
                var about = Referrer.Of(document, tag);
                return new LedgerEntry(time.GetUtcNow(), repo.Upstream.Name, repo.Name, tag, digest, manifest.MediaType,
                    content.Length + (document?.ContentSize ?? 0), response.Endpoint.Authority, about?.Subject, about?.ArtifactType);
            });
            return new ManifestResult(manifest, stored ? CacheOutcome.Miss : CacheOutcome.PassThrough, response.Endpoint.Authority);
        }
        catch (UpstreamException e)
        {
            if (e.Failure == UpstreamFailure.NotFound) missing.Remember(repo, reference);
            throw e.ToRegistryError();
        }
    }

    private static Digest VerifiedDigest(string reference, string? headerDigest, byte[] content, string where)
    {
        if (Digest.TryParse(reference, out var requested))
        {
            if (!requested.MatchesManifest(content))
                throw new RegistryError(502, "UNAVAILABLE", $"{where} sent a manifest whose content does not match {requested}; nothing was stored");
            return requested;
        }
        var computed = Digest.OfManifest(content);
        if (Digest.TryParse(headerDigest, out var announced) && announced.Algorithm == "sha256" && announced != computed)
            throw new RegistryError(502, "UNAVAILABLE", $"{where} announced {announced} for tag '{reference}' but sent content hashing to {computed}; nothing was stored");
        return computed;
    }

    private static string Described(string contentType) => contentType.Length == 0 ? "a body without Content-Type" : $"a {contentType} body";

    // With the metadata store down, reads fall back to memory and then to the upstream: tags come
    // straight from it, manifests are verified and served without being stored.
    private async Task<StoredManifest?> LoadAsync(Digest digest, CancellationToken ct)
    {
        if (hot.GetManifest(digest) is { } m) return m;
        m = await TryReadAsync(() => store.GetManifestAsync(digest, ct));
        if (m is null) return null;
        hot.SetManifest(m);
        RememberSizes(ManifestDocument.TryParse(m.Content));
        return m;
    }

    // Blob fills stop at the size the manifest declares, and waiting replicas answer with it.
    private void RememberSizes(ManifestDocument? document)
    {
        foreach (var blob in document?.ImageBlobs ?? [])
            if (blob.Size >= 0) hot.SetDeclaredSize(blob.Digest, blob.Size);
    }

    private async Task<bool> IsLinkedAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        if (hot.IsLinked(repo.Key, digest)) return true;
        if (!await TryReadAsync(() => store.IsLinkedAsync(repo.Key, digest, ct))) return false;
        hot.SetLinked(repo.Key, digest);
        return true;
    }

    private async Task<TagRecord?> GetTagAsync(RepositoryRef repo, string tag, CancellationToken ct)
    {
        if (hot.GetTag(repo.Key, tag) is { } r) return r;
        r = await TryReadAsync(() => store.GetTagAsync(repo.Key, tag, ct));
        if (r is not null) hot.SetTag(repo.Key, tag, r);
        return r;
    }

    private async Task<T?> TryReadAsync<T>(Func<Task<T>> read)
    {
        using var span = Telemetry.Tracing.Source.StartActivity("metadata read");
        try
        {
            return await read();
        }
        catch (StoreUnavailableException e)
        {
            span.Fail(e);
            Log.StoreDown(log, e.Message);
            return default;
        }
    }

    /// <returns>False when the metadata store is down (the answer is then passed through unstored).</returns>
    private async Task<bool> TryStoreAsync(Func<Task> write)
    {
        using var span = Telemetry.Tracing.Source.StartActivity("metadata write");
        try
        {
            await write();
            return true;
        }
        catch (StoreUnavailableException e)
        {
            span.Fail(e);
            Log.StoreDown(log, e.Message);
            return false;
        }
    }

    private Task PutTagAsync(RepositoryRef repo, string tag, Digest digest) => PutTagAsync(repo, tag, new TagRecord(digest, time.GetUtcNow()));

    private async Task PutTagAsync(RepositoryRef repo, string tag, TagRecord record)
    {
        hot.SetTag(repo.Key, tag, record);
        await store.PutTagAsync(repo.Key, tag, record, CancellationToken.None);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "metadata store down, answering from memory and upstream: {Reason}")]
        public static partial void StoreDown(ILogger logger, string reason);

        [LoggerMessage(EventId = 200, Level = LogLevel.Warning,
            Message = "serving stale tag {Repository}:{Tag} -> {Digest}: revalidation failed: {Reason}")]
        public static partial void ServingStale(ILogger logger, string repository, string tag, string digest, string reason);
    }
}

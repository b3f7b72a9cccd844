using CacheRegistry.Oci;
using CacheRegistry.Storage;
using Microsoft.Extensions.Caching.Memory;

namespace CacheRegistry.Cache;

/// <summary>
/// A bounded in-process copy of recent tags, manifests and links in front of the metadata store,
/// so a warm tag hit touches nothing slower than memory. Manifests are immutable by digest, and
/// tags carry their own fetched-at time, so a copy is never wrong, only possibly older.
/// </summary>
public sealed class HotCache(RegistryOptions options) : IDisposable
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = options.MemoryCacheBytes });
    private static readonly object Linked = new();

    public StoredManifest? GetManifest(Digest digest) => _cache.Get<StoredManifest>(("m", digest));
    public void SetManifest(StoredManifest m) =>
        _cache.Set(("m", m.Digest), m, new MemoryCacheEntryOptions { Size = m.Content.Length + 200 });

    public TagRecord? GetTag(string repository, string tag) => _cache.Get<TagRecord>(("t", repository, tag));
    public void SetTag(string repository, string tag, TagRecord record) =>
        _cache.Set(("t", repository, tag), record, new MemoryCacheEntryOptions { Size = 200 + repository.Length + tag.Length });

    public bool IsLinked(string repository, Digest digest) => _cache.TryGetValue(("l", repository, digest), out _);
    public void SetLinked(string repository, Digest digest) =>
        _cache.Set(("l", repository, digest), Linked, new MemoryCacheEntryOptions { Size = 150 + repository.Length });

    /// <summary>
    /// The size a manifest declares for a blob: a fill stops there, and replicas waiting for another
    /// one's fill can answer with headers at once. Clients fetch the manifest before its blobs.
    /// </summary>
    public long? GetDeclaredSize(Digest digest) => _cache.TryGetValue(("s", digest), out long size) ? size : null;
    public void SetDeclaredSize(Digest digest, long size) =>
        _cache.Set(("s", digest), size, new MemoryCacheEntryOptions { Size = 120 });

    public ReferrerList? GetReferrers(string key) => _cache.Get<ReferrerList>(("r", key));
    public void SetReferrers(string key, ReferrerList list) =>
        _cache.Set(("r", key), list, new MemoryCacheEntryOptions { Size = 200 + list.Descriptors.Sum(d => 40L + d.Json.Length * 2) });

    public TagListing? GetTagList(string repository) => _cache.Get<TagListing>(("tl", repository));
    public void SetTagList(string repository, TagListing listing) =>
        _cache.Set(("tl", repository), listing, new MemoryCacheEntryOptions { Size = 200 + listing.Tags.Sum(t => 40L + t.Length * 2) });

    /// <summary>Until when the upstream's "not found" for a reference is believed without asking again.</summary>
    public DateTimeOffset? GetMissingUntil(string repository, string reference) =>
        _cache.TryGetValue(("n", repository, reference), out DateTimeOffset until) ? until : null;
    public void SetMissing(string repository, string reference, DateTimeOffset until) =>
        _cache.Set(("n", repository, reference), until, new MemoryCacheEntryOptions { Size = 150 + repository.Length + reference.Length });

    public void ForgetTagList(string repository) => _cache.Remove(("tl", repository));

    public void ForgetMissing(string repository, string reference) => _cache.Remove(("n", repository, reference));

    /// <summary>Forgets everything (after a purge), so the next request reads the store.</summary>
    public void Clear() => _cache.Clear();

    public void Dispose() => _cache.Dispose();
}

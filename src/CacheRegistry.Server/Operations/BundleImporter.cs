using System.Buffers;
using System.Formats.Tar;
using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Operations;

internal sealed record ImportOptions(bool AllowPartial = false, bool Force = false);

internal sealed record ImportResult(int Images, int Manifests, int Blobs, long Bytes, IReadOnlyList<string> Missing, IReadOnlyList<string> TagsNotMoved);

/// <summary>
/// Loads an OCI image layout tar into the cache's stores, verifying every digest on the way in.
/// Blobs go into the blob store as they stream past (content-addressed: an unused one is only
/// garbage for GC). Nothing is linked or tagged before the whole bundle was read and found
/// complete; names must route to a configured registry and become the same cache keys a pull
/// would use; a tag that already points elsewhere is moved only when asked.
/// </summary>
internal sealed class BundleImporter(IBlobStore blobs, SpoolDirectory spools, IMetadataStore metadata, IBlobIndex index, ILedger ledger,
    UpstreamRouter router, RegistryOptions options, TimeProvider time)
{
    /// <summary>Manifests are held until the bundle is known complete; more than this in one bundle is refused.</summary>
    public const long MaxManifestBytesHeld = 256L * 1024 * 1024;

    public async Task<ImportResult> ImportAsync(Stream tar, string source, ImportOptions importOptions, Action<string>? report, CancellationToken ct)
    {
        var manifests = new Dictionary<Digest, StoredManifest>();
        var blobsSeen = new HashSet<Digest>();
        List<(Digest Digest, string Name)>? named = null;
        long held = 0, bytes = 0;
        var blobCount = 0;
        await using var reader = new TarReader(tar, leaveOpen: true);
        while (await NextAsync(reader, ct) is { } entry)
        {
            var name = entry.Name.TrimStart('.', '/');
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
            if (name == "index.json")
            {
                named = ParseIndex(await ReadSmallAsync(entry, options.MaxManifestBytes, ct));
            }
            else if (name.Split('/') is ["blobs", var algorithm, var hex] && Digest.TryParse(algorithm + ":" + hex, out var digest))
            {
                if (entry.Length <= options.MaxManifestBytes)
                {
                    var content = await ReadSmallAsync(entry, options.MaxManifestBytes, ct);
                    // Only a manifest may be named by its schema 1 payload; a blob is its bytes.
                    var manifest = AsManifest(digest, content);
                    if (!(manifest is null ? digest.MatchesContent(content) : digest.MatchesManifest(content)))
                        throw new InvalidDataException($"{name} does not hash to {digest}; nothing more is imported");
                    if (manifest is not null)
                    {
                        held += content.Length;
                        if (held > MaxManifestBytesHeld) throw new InvalidDataException($"the bundle holds more than {MaxManifestBytesHeld} bytes of manifests; refused");
                        manifests[digest] = manifest;
                        continue;
                    }
                    await StoreBlobAsync(digest, new MemoryStream(content), content.Length, ct);
                }
                else
                {
                    await StoreBlobAsync(digest, entry.DataStream, entry.Length, ct);
                    report?.Invoke($"  blob {digest.ToString()[..19]}… {ByteSize.Format(entry.Length)}");
                }
                blobsSeen.Add(digest);
                blobCount++;
                bytes += entry.Length;
            }
        }
        if (named is null) throw new InvalidDataException("the bundle has no index.json: it is not an OCI image layout");

        var images = named.Select(n => (n.Digest, Image: Named(n.Name))).ToList();
        var missing = await MissingAsync(images.Select(i => i.Digest), manifests, blobsSeen, ct);
        if (missing.Count > 0)
        {
            if (!importOptions.AllowPartial)
                throw new InvalidDataException($"the bundle is incomplete: {missing.Count} blobs or manifests are neither in it nor in this cache (first: {missing[0]}); " +
                    "nothing was linked or tagged. Import it with --allow-partial to take what is there");
            foreach (var m in missing) report?.Invoke($"warning: missing from the bundle and the cache: {m}");
        }

        foreach (var manifest in manifests.Values) await metadata.PutManifestAsync(manifest, ct);
        var notMoved = new List<string>();
        foreach (var (top, image) in images)
        {
            var repository = router.Resolve(image);
            var closure = Closure(top, manifests);
            await metadata.LinkAsync(repository.Key, closure, ct);
            if (image.Tag is not null && !await PutTagAsync(repository.Key, image.Tag, top, importOptions.Force, report, ct)) notMoved.Add(image.ToString());
            await ledger.AppendAsync(LedgerEntryOf(repository, image.Tag, top, manifests.GetValueOrDefault(top), source), ct);
            // The signatures and attestations an index of referrers lists are recorded one by one, with their subject.
            foreach (var child in closure.Skip(1))
                if (manifests.TryGetValue(child, out var m) && ManifestDocument.TryParse(m.Content)?.Subject is not null)
                    await ledger.AppendAsync(LedgerEntryOf(repository, null, child, m, source), ct);
            report?.Invoke($"imported {image}");
        }
        return new ImportResult(images.Count, manifests.Count, blobCount, bytes, missing, notMoved);
    }

    private static async Task<TarEntry?> NextAsync(TarReader reader, CancellationToken ct)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, ct);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException)
        {
            throw new InvalidDataException($"the bundle is not a readable tar: {e.Message}", e);
        }
    }

    /// <summary>An image name of the bundle, which must route to a registry this cache serves.</summary>
    private ImageReference Named(string name)
    {
        try
        {
            var image = ImageReference.Parse(name);
            router.Resolve(image);
            return image;
        }
        catch (Exception e) when (e is FormatException or RegistryError)
        {
            throw new InvalidDataException($"the bundle names image '{RegistryPath.Truncate(name)}': {e.Message}; nothing was linked or tagged", e);
        }
    }

    /// <returns>False when the tag points elsewhere and was left there (without <paramref name="force"/>).</returns>
    private async Task<bool> PutTagAsync(string repository, string tag, Digest digest, bool force, Action<string>? report, CancellationToken ct)
    {
        if (await metadata.GetTagAsync(repository, tag, ct) is { } existing && existing.Digest != digest)
        {
            if (!force)
            {
                report?.Invoke($"warning: {repository}:{tag} points at {existing.Digest}, not the bundle's {digest}; left as it is (--force moves it)");
                return false;
            }
            report?.Invoke($"moved {repository}:{tag} from {existing.Digest} to {digest}");
        }
        await metadata.PutTagAsync(repository, tag, new TagRecord(digest, time.GetUtcNow()), ct);
        return true;
    }

    /// <summary>What the named images need that is neither in the bundle nor in this cache's stores.</summary>
    private async Task<List<string>> MissingAsync(IEnumerable<Digest> tops, Dictionary<Digest, StoredManifest> manifests, HashSet<Digest> blobsSeen,
        CancellationToken ct)
    {
        var missing = new List<string>();
        foreach (var digest in tops.SelectMany(t => Closure(t, manifests)).Distinct())
        {
            if (manifests.ContainsKey(digest) || blobsSeen.Contains(digest)) continue;
            if (await blobs.GetSizeAsync(digest, ct) is not null || await metadata.GetManifestAsync(digest, ct) is not null) continue;
            missing.Add(digest.ToString());
        }
        return missing;
    }

    private LedgerEntry LedgerEntryOf(RepositoryRef repository, string? tag, Digest digest, StoredManifest? m, string source)
    {
        var document = m is null ? null : ManifestDocument.TryParse(m.Content);
        var about = Referrer.Of(document, tag);
        return new LedgerEntry(time.GetUtcNow(), repository.Upstream.Name, repository.Name, tag, digest, m?.MediaType ?? "",
            (m?.Content.Length ?? 0) + (document?.ContentSize ?? 0), "import:" + source, about?.Subject, about?.ArtifactType);
    }

    /// <summary>The manifest and everything it reaches: child manifests, configs and layers.</summary>
    private static List<Digest> Closure(Digest top, Dictionary<Digest, StoredManifest> manifests)
    {
        var all = new List<Digest>();
        var queue = new Queue<Digest>([top]);
        var seen = new HashSet<Digest>();
        while (queue.TryDequeue(out var d))
        {
            if (!seen.Add(d)) continue;
            all.Add(d);
            if (manifests.TryGetValue(d, out var m))
                foreach (var child in ManifestDocument.ReferencesOf(m.Content)) queue.Enqueue(child);
        }
        return all;
    }

    private async Task StoreBlobAsync(Digest digest, Stream source, long size, CancellationToken ct)
    {
        if (await blobs.GetSizeAsync(digest, ct) is not null)
        {
            await source.CopyToAsync(Stream.Null, ct);
            return;
        }
        await using var spool = spools.Create(digest);
        await using var writer = await blobs.BeginWriteAsync(digest, spool, ct);
        using var hasher = digest.CreateHasher();
        var buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
        try
        {
            var left = size;
            while (left > 0)
            {
                var n = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
                if (n == 0) throw new EndOfStreamException($"the bundle ends inside blob {digest}");
                hasher.AppendData(buffer, 0, n);
                await spool.AppendAsync(buffer.AsMemory(0, n), ct);
                await writer.SpoolGrewAsync(ct);
                left -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (!digest.Matches(hasher.GetHashAndReset())) throw new InvalidDataException($"blob {digest} in the bundle does not hash to its name; nothing of it is stored");
        await writer.CommitAsync(ct);
        await index.RecordBlobAsync(digest, size, time.GetUtcNow(), ct);
    }

    /// <summary>A layout blob that is a manifest (by its own mediaType or its shape), or null for config and layer blobs.</summary>
    private static StoredManifest? AsManifest(Digest digest, byte[] content) =>
        ManifestDocument.TryParse(content)?.MediaTypeFor("") is { } mediaType ? new StoredManifest(digest, mediaType, content) : null;

    private static List<(Digest, string)> ParseIndex(byte[] json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var list = new List<(Digest, string)>();
            if (!doc.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException("index.json has no manifests list");
            foreach (var m in manifests.EnumerateArray())
                if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("digest", out var d) && Digest.TryParse(d.ValueKind == JsonValueKind.String ? d.GetString() : null, out var digest)
                    && m.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object
                    && a.TryGetProperty("org.opencontainers.image.ref.name", out var name) && name.ValueKind == JsonValueKind.String && name.GetString() is { } n)
                    list.Add((digest, n));
            return list;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"index.json is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>A small entry read whole, refused before any allocation when its header claims more than <paramref name="max"/>.</summary>
    private static async Task<byte[]> ReadSmallAsync(TarEntry entry, long max, CancellationToken ct)
    {
        if (entry.Length > max) throw new InvalidDataException($"{entry.Name} claims {entry.Length} bytes; at most {max} are read");
        var bytes = new byte[entry.Length];
        await entry.DataStream!.ReadExactlyAsync(bytes, ct);
        return bytes;
    }
}

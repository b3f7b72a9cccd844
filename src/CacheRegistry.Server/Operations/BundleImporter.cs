using System.Buffers;
using System.Text;
using System.Text.Json;
using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Operations;

public sealed record ImportResult(int Images, int Manifests, int Blobs, long Bytes);

/// <summary>
/// Loads an OCI image layout tar into the cache's stores, verifying every digest on the way in:
/// blobs into the blob store, manifests into the metadata store, each image's name as a tag with
/// its repository links, so an air-gapped instance serves them under their original names.
/// </summary>
public sealed class BundleImporter(IBlobStore blobs, SpoolDirectory spools, IMetadataStore metadata, IBlobIndex index, ILedger ledger, RegistryOptions options,
    TimeProvider time)
{
    public async Task<ImportResult> ImportAsync(Stream tar, string source, Action<string>? report, CancellationToken ct)
    {
        var manifests = new Dictionary<Digest, StoredManifest>();
        List<(Digest Digest, string Name)> named = [];
        int blobCount = 0;
        long bytes = 0;
        var header = new byte[512];
        while (true)
        {
            await ReadExactlyAsync(tar, header, ct);
            if (header.All(b => b == 0)) break;
            var name = Field(header, 0, 100);
            var prefix = Field(header, 345, 155);
            if (prefix.Length > 0) name = prefix + "/" + name;
            name = name.TrimStart('.', '/');
            var size = Size(header);
            var type = (char)header[156];
            if (type is not ('0' or '\0'))
            {
                await SkipAsync(tar, Padded(size), ct);
                continue;
            }
            if (name == "index.json")
            {
                named = ParseIndex(await ReadAsync(tar, size, ct));
                await SkipAsync(tar, Padded(size) - size, ct);
            }
            else if (name.StartsWith("blobs/", StringComparison.Ordinal) && name.Split('/') is [_, var algorithm, var hex]
                     && Digest.TryParse(algorithm + ":" + hex, out var digest))
            {
                if (size <= options.MaxManifestBytes)
                {
                    var content = await ReadAsync(tar, size, ct);
                    if (!digest.MatchesContent(content)) throw new InvalidDataException($"{name} does not hash to {digest}; nothing more is imported");
                    if (AsManifest(digest, content) is { } manifest)
                    {
                        await metadata.PutManifestAsync(manifest, ct);
                        manifests[digest] = manifest;
                    }
                    else
                    {
                        await StoreBlobAsync(digest, new MemoryStream(content), size, ct);
                        blobCount++;
                        bytes += size;
                    }
                }
                else
                {
                    await StoreBlobAsync(digest, tar, size, ct);
                    blobCount++;
                    bytes += size;
                    report?.Invoke($"  blob {digest.ToString()[..19]}… {ByteSize.Format(size)}");
                }
                await SkipAsync(tar, Padded(size) - size, ct);
            }
            else
            {
                await SkipAsync(tar, Padded(size), ct);
            }
        }

        foreach (var (top, refName) in named)
        {
            var image = ImageReference.Parse(refName);
            var digests = Closure(top, manifests);
            await metadata.LinkAsync(image.RepositoryKey, digests, ct);
            if (image.Tag is not null) await metadata.PutTagAsync(image.RepositoryKey, image.Tag, new TagRecord(top, time.GetUtcNow()), ct);
            var m = manifests.GetValueOrDefault(top);
            await ledger.AppendAsync(new LedgerEntry(time.GetUtcNow(), image.Registry, image.Repository, image.Tag, top, m?.MediaType ?? "",
                (m?.Content.Length ?? 0) + (m is null ? 0 : ManifestDocument.TryParse(m.Content)?.ContentSize ?? 0), "import:" + source), ct);
            report?.Invoke($"imported {image}");
        }
        return new ImportResult(named.Count, manifests.Count, blobCount, bytes);
    }

    /// <summary>The manifest and everything it reaches: child manifests, configs and layers.</summary>
    private static List<Digest> Closure(Digest top, IReadOnlyDictionary<Digest, StoredManifest> manifests)
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
            await SkipAsync(source, size, ct);
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
        using var doc = JsonDocument.Parse(json);
        var list = new List<(Digest, string)>();
        foreach (var m in doc.RootElement.GetProperty("manifests").EnumerateArray())
            if (Digest.TryParse(m.GetProperty("digest").GetString(), out var d)
                && m.TryGetProperty("annotations", out var a) && a.TryGetProperty("org.opencontainers.image.ref.name", out var name)
                && name.GetString() is { } n)
                list.Add((d, n));
        return list;
    }

    private static string Field(byte[] header, int offset, int length)
    {
        var end = Array.IndexOf(header, (byte)0, offset, length);
        return Encoding.ASCII.GetString(header, offset, (end < 0 ? offset + length : end) - offset);
    }

    private static long Size(byte[] header)
    {
        if ((header[124] & 0x80) != 0)
        {
            long v = 0;
            for (var i = 125; i < 136; i++) v = (v << 8) | header[i];
            return v;
        }
        var text = Field(header, 124, 12).Trim(' ', '\0');
        return text.Length == 0 ? 0 : Convert.ToInt64(text, 8);
    }

    private static long Padded(long size) => (size + 511) / 512 * 512;

    private static async Task<byte[]> ReadAsync(Stream s, long size, CancellationToken ct)
    {
        var bytes = new byte[size];
        await ReadExactlyAsync(s, bytes, ct);
        return bytes;
    }

    private static async Task ReadExactlyAsync(Stream s, byte[] buffer, CancellationToken ct) => await s.ReadExactlyAsync(buffer, ct);

    private static async Task SkipAsync(Stream s, long count, CancellationToken ct)
    {
        var buffer = new byte[Math.Min(count, 64 * 1024)];
        while (count > 0)
        {
            var n = await s.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), ct);
            if (n == 0) throw new EndOfStreamException("the bundle ends early");
            count -= n;
        }
    }
}

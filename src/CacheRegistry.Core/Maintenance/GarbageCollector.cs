using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Maintenance;

/// <param name="BlobsKeptYoung">Unreferenced blobs kept because they are younger than GcGrace (a manifest may be on its way).</param>
public sealed record GcResult(int Manifests, int BlobsSeen, int BlobsRemoved, long BytesRemoved, int SpoolFilesRemoved, int BlobsKeptYoung = 0);

/// <summary>
/// Removes blobs that no cached manifest references (mark from every manifest, sweep the store),
/// and spool files that crashed fills left. Safe while pulls run: blobs younger than the grace
/// period and blobs being filled are never removed, and a manifest is stored before its blobs
/// are fetched.
/// </summary>
public sealed partial class GarbageCollector(IMetadataCatalog catalog, IBlobIndex index, IBlobInventory inventory, RunningFills fills, SpoolDirectory spools,
    RegistryOptions options, TimeProvider time, ILogger<GarbageCollector> log)
{
    public async Task<GcResult> RunAsync(IProgress<string>? progress, CancellationToken ct)
    {
        var referenced = new HashSet<Digest>();
        var manifests = 0;
        await foreach (var manifest in catalog.AllManifestsAsync(ct))
        {
            manifests++;
            referenced.Add(manifest.Digest);
            referenced.UnionWith(ManifestDocument.ReferencesOf(manifest.Content));
        }
        progress?.Report($"marked {referenced.Count} digests referenced by {manifests} manifests");

        int seen = 0, removed = 0, young = 0;
        long bytes = 0;
        var cutoff = time.GetUtcNow() - options.Cache.GcGrace;
        await foreach (var (digest, size, written) in inventory.ListAsync(ct))
        {
            seen++;
            if (referenced.Contains(digest) || fills.Find(digest) is not null) continue;
            if (written > cutoff)
            {
                young++;
                continue;
            }
            await inventory.DeleteAsync(digest, ct);
            await index.ForgetBlobAsync(digest, ct);
            removed++;
            bytes += size;
        }
        var spool = spools.RemoveOlderThan(options.Timeouts.Fill);
        var result = new GcResult(manifests, seen, removed, bytes, spool, young);
        var grace = Duration.Format(options.Cache.GcGrace);
        Log.Collected(log, removed, ByteSize.Format(bytes), seen, manifests, spool, young, grace);
        progress?.Report($"removed {removed} of {seen} blobs ({ByteSize.Format(bytes)}), {spool} orphan spool files"
            + (young > 0 ? $"; {young} blobs kept: unreferenced for less than {grace} (Registry:Cache:GcGrace)" : ""));
        return result;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 610, Level = LogLevel.Information,
            Message = "gc: removed {Removed} unreferenced blobs ({Bytes}) of {Seen}; {Manifests} manifests; {Spool} orphan spool files; {Young} blobs kept: unreferenced for less than {Grace} (GcGrace)")]
        public static partial void Collected(ILogger logger, int removed, string bytes, int seen, int manifests, int spool, int young, string grace);
    }
}

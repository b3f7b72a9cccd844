using CacheRegistry.Cache;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Maintenance;

public sealed record EvictionResult(long BytesBefore, long BytesAfter, int Evicted, int KeptPinned);

/// <summary>
/// Keeps stored blobs under <c>Registry:Cache:MaxSize</c>: above the high watermark, least recently
/// used blobs are removed until usage is below the low watermark; on a local disk, also until
/// <c>Registry:Cache:MinFreeSpace</c> is free. Blobs of pinned repositories and blobs being filled
/// are kept. A pull that needs an evicted blob fetches it again.
/// </summary>
public sealed partial class Evictor(IBlobIndex index, IBlobInventory inventory, AccessTracker accesses, RunningFills fills,
    RegistryOptions options, ILogger<Evictor> log, Telemetry.CacheMetrics? metrics = null)
{
    private const int Batch = 200;

    public async Task<EvictionResult?> RunAsync(CancellationToken ct)
    {
        var touched = accesses.Drain();
        if (touched.Count > 0) await index.TouchBlobsAsync(touched, ct);
        if (ByteSize.Parse(options.Cache.MaxSize) is not long max) return null;

        var (_, bytes) = await index.TotalsAsync(ct);
        var before = bytes;
        var toFree = Math.Max(0, (ByteSize.Parse(options.Cache.MinFreeSpace) ?? 0) - FreeSpace());
        if (bytes <= max * options.Cache.HighWatermark && toFree == 0) return new EvictionResult(before, bytes, 0, 0);
        var target = Math.Min((long)(max * options.Cache.LowWatermark), bytes - toFree);
        int evicted = 0, kept = 0, skip = 0;
        while (bytes > target)
        {
            var batch = await index.OldestBlobsAsync(Batch, skip, ct);
            if (batch.Count == 0) break;
            foreach (var blob in batch)
            {
                if (bytes <= target) break;
                if (fills.Find(blob.Digest) is not null || await IsPinnedAsync(blob, ct))
                {
                    kept++;
                    skip++;
                    continue;
                }
                await inventory.DeleteAsync(blob.Digest, ct);
                await index.ForgetBlobAsync(blob.Digest, ct);
                bytes -= blob.Size;
                evicted++;
            }
        }
        (metrics ?? Telemetry.CacheMetrics.Unobserved).Evicted(evicted);
        Log.Evicted(log, evicted, ByteSize.Format(before), ByteSize.Format(bytes), ByteSize.Format(max), ByteSize.Format(toFree), kept);
        return new EvictionResult(before, bytes, evicted, kept);
    }

    private long FreeSpace() => inventory.Volume is { } dir ? new DriveInfo(Path.GetFullPath(dir)).AvailableFreeSpace : long.MaxValue;

    private async Task<bool> IsPinnedAsync(BlobRecord blob, CancellationToken ct)
    {
        if (options.Cache.Pinned.Count == 0) return false;
        var repositories = await index.RepositoriesLinkingAsync(blob.Digest, ct);
        return repositories.Any(r => options.Cache.Pinned.Any(p => RepositoryPattern.Matches(p, r)));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 600, Level = LogLevel.Information,
            Message = "size limit: evicted {Count} blobs, {Before} -> {After} (limit {Max}, {ToFree} to free on disk); kept {Kept} pinned or in-flight")]
        public static partial void Evicted(ILogger logger, int count, string before, string after, string max, string toFree, int kept);
    }
}

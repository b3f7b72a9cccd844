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
/// are kept. A pull that needs an evicted blob fetches it again. Replicas sharing a store evict one
/// at a time (<see cref="IMaintenanceLock"/>), each after recording its access times in the shared
/// index, so the cluster frees what the limit asks, once, least recently used by any replica first.
/// </summary>
public sealed partial class Evictor(IBlobIndex index, IBlobInventory inventory, AccessTracker accesses, RunningFills fills,
    RegistryOptions options, ILogger<Evictor> log, Telemetry.CacheMetrics? metrics = null, IMaintenanceLock? maintenanceLock = null)
{
    private const int Batch = 200;
    // Longer than any eviction run; a holder that dies frees the lock after it.
    private static readonly TimeSpan LockTtl = TimeSpan.FromMinutes(10);
    private readonly IMaintenanceLock _lock = maintenanceLock ?? new LocalMaintenanceLock();

    public async Task<EvictionResult?> RunAsync(CancellationToken ct)
    {
        var touched = accesses.Drain();
        if (touched.Count > 0) await index.TouchBlobsAsync(touched, ct);
        if (options.Cache.MaxSize is not { Bytes: var max }) return null;
        var (_, bytes) = await index.TotalsAsync(ct);
        var toFree = Math.Max(0, options.Cache.MinFreeSpace.Bytes - FreeSpace());
        bool Within(long stored) => stored <= max * options.Cache.HighWatermark && toFree == 0;
        if (Within(bytes)) return new EvictionResult(bytes, bytes, 0, 0);
        await using var held = await _lock.TryAcquireAsync("evict", LockTtl, ct);
        if (held is null)
        {
            Log.OtherEvicting(log);
            return null;
        }
        // Read again under the lock: the replica that held it may have freed enough already.
        (_, bytes) = await index.TotalsAsync(ct);
        var before = bytes;
        if (Within(bytes)) return new EvictionResult(before, bytes, 0, 0);
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

        [LoggerMessage(EventId = 601, Level = LogLevel.Information, Message = "size limit: another replica is evicting; this one skips this round")]
        public static partial void OtherEvicting(ILogger logger);
    }
}

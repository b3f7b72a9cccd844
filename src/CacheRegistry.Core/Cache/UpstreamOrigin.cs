using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

/// <summary>
/// The repository's upstream as a fill's origin: the blob from an offset (a Range request), in a
/// turn that holds one of the upstream's fill slots (MaxConcurrentFills) and the quota's
/// reservation of the blob's size.
/// </summary>
internal sealed class UpstreamOrigin(RepositoryRef repository, Digest digest, CacheMetrics metrics, TimeProvider time) : IFillOrigin
{
    private UpstreamQuota.Reservation? _reservation;

    private UpstreamClient Upstream => repository.Upstream;

    public bool Resumable => true;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The response belongs to the returned body, which disposes it.")]
    public async Task<OriginBody?> OpenAsync(long offset, CancellationToken ct)
    {
        var response = await Upstream.GetBlobAsync(repository.Name, digest, offset, ct);
        try
        {
            var source = $"upstream {Upstream.Name} endpoint {response.Endpoint.Authority}";
            var (from, total) = Extent(response, offset, source);
            return new OriginBody(await response.OpenBodyAsync(ct), from, total, source, response.Endpoint.Authority, response)
            {
                ConfirmsLink = true,
                Received = _reservation is { } r ? n => r.Received(n) : null,
            };
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The download of the rest of the blob from every endpoint at once, when the registry is a
    /// pool (<c>Strategy=pool</c>) and the rest is at least two segments; null otherwise (one
    /// request, as a failover chain). The size is the manifest's or, for a pool, a HEAD's.
    /// </summary>
    public async Task<(SegmentedDownload Download, long Size)?> PoolAsync(long? size, long written, int segmentAttempts, Microsoft.Extensions.Logging.ILogger log,
        CancellationToken ct)
    {
        if (Upstream.Pool is not { } pool || Upstream.IsOffline) return null;
        var endpoints = Upstream.PoolEndpoints();
        if (endpoints.Count == 0 || (endpoints.Count == 1 && pool.ConnectionsPerEndpoint == 1)) return null;
        try
        {
            size ??= await HeadSizeAsync(ct);
        }
        catch (UpstreamException)
        {
            return null; // the plain request says what is wrong
        }
        if (size is not long total || total - written < 2 * pool.SegmentSize.Bytes) return null;
        var received = _reservation is { } r ? (Action<int>)(n => r.Received(n)) : null;
        return (new SegmentedDownload(repository, digest, endpoints, pool, segmentAttempts, time, log, metrics, received), total);
    }

    /// <summary>The blob's size from an upstream HEAD (not a pull for Docker Hub's rate limit); null when it gives none.</summary>
    public async Task<long?> HeadSizeAsync(CancellationToken ct)
    {
        using var head = await Upstream.HeadBlobAsync(repository.Name, digest, ct);
        return head.ContentLength;
    }

    /// <summary>
    /// Waits for a fill slot (Registry:Upstreams:&lt;host&gt;:MaxConcurrentFills) before the first byte
    /// is asked for, then reserves what is left of the blob against the quota. Disposing the turn
    /// gives both back.
    /// </summary>
    public async Task<IDisposable> TakeTurnAsync(long? declaredSize, long written, CancellationToken ct)
    {
        var slots = Upstream.FillSlots;
        if (slots is not null && !await WaitForSlotAsync(slots, ct))
        {
            var wait = Upstream.FillQueueWait;
            throw new RegistryError(503, "UNAVAILABLE",
                $"{Upstream.MaxConcurrentFills} downloads from {Upstream.Name} are running (Registry:Upstreams:{Upstream.Name}:MaxConcurrentFills) "
                + $"and this one waited {wait.TotalSeconds:0.#} s for a slot (FillQueueWait); retry shortly")
            { RetryAfterSeconds = RegistryError.SecondsToRetry(wait) };
        }
        try
        {
            _reservation = await ReserveQuotaAsync(declaredSize, written, ct);
            return new Turn(this, slots);
        }
        catch
        {
            slots?.Release();
            throw;
        }
    }

    /// <summary>Waits up to FillQueueWait for a slot; a queued fill counts as queued, not as running.</summary>
    private async Task<bool> WaitForSlotAsync(SemaphoreSlim slots, CancellationToken ct)
    {
        if (slots.Wait(0, CancellationToken.None)) return true;
        metrics.FillQueued(1);
        using var waited = new Deadline(Upstream.FillQueueWait, time, ct);
        try
        {
            await slots.WaitAsync(waited.Token);
            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            metrics.FillQueued(-1);
        }
    }

    /// <summary>
    /// With a quota (Registry:Upstreams:&lt;host&gt;:Quota) the blob's size is reserved before any
    /// body byte is asked for; a blob that does not fit in what is left is refused (429), whatever
    /// range its client wanted, since a fill takes the whole blob. The size is the manifest's, or a HEAD's.
    /// </summary>
    private async Task<UpstreamQuota.Reservation?> ReserveQuotaAsync(long? declaredSize, long written, CancellationToken ct)
    {
        if (Upstream.Quota is not { } quota) return null;
        var size = declaredSize;
        if (size is null)
        {
            try
            {
                size = await HeadSizeAsync(ct);
            }
            catch (UpstreamException e) when (e.Failure is not UpstreamFailure.QuotaSpent)
            {
                // No size from a HEAD: the GET that follows says what is wrong, or counts as it goes.
            }
        }
        if (size is not long total) return null; // nothing to reserve against: the download counts as it goes
        var need = Math.Max(0, total - written);
        return quota.TryReserve(need) ?? throw Upstream.QuotaRefusal(quota,
            $"has {Common.ByteSize.Format(Math.Max(0, quota.Remaining))} left, and {digest} needs {Common.ByteSize.Format(need)}");
    }

    /// <summary>Where the response's bytes start in the blob, and the blob's total size when the response says.</summary>
    private static (long From, long? Total) Extent(UpstreamResponse response, long offset, string source)
    {
        if (!response.IsPartial) return (0, response.ContentLength);
        var range = response.Message.Content.Headers.ContentRange;
        if (range?.From is not long from || from > offset)
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{source} answered a resume from byte {offset} with Content-Range '{range}'; nothing stored");
        return (from, range.Length);
    }

    private sealed class Turn(UpstreamOrigin origin, SemaphoreSlim? slots) : IDisposable
    {
        public void Dispose()
        {
            origin._reservation?.Dispose();
            origin._reservation = null;
            slots?.Release();
        }
    }
}

using CacheRegistry.Telemetry;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

public enum FillState { Running, Committed, Failed }

/// <summary>What a fill needs from its surroundings.</summary>
public sealed record FillContext(IBlobStore Store, IMetadataStore Metadata, IBlobIndex Index, IFillLease Lease, FillOptions Options,
    SpoolDirectory Spools, long MaxBlobBytes, TimeProvider Time, ILogger Log, Telemetry.CacheMetrics Metrics)
{
    /// <summary>Other replicas' running fills, when replicas stream to each other (Registry:Cluster).</summary>
    public Cluster.IPeerFills? Peers { get; init; }
}

/// <summary>
/// One upstream download of one blob, owned by the cache rather than by a request: it writes into
/// its spool (which its readers follow and the store takes in), hashes as bytes land, resumes with
/// Range when the upstream connection drops, and commits only when size and digest match. Any
/// number of readers follow it from any offset at the upstream's pace. With the blob store down it
/// still streams (and verifies) to its readers, without storing. Across replicas that share a blob
/// store, a lease lets one of them download; the others stream its running fill into their own
/// spools (verifying the digest themselves) or, without Registry:Cluster, wait for its commit.
/// </summary>
/// <param name="storeLookup">The store's answer the starting request asked for; it may still be on its way (see BlobCache).</param>
public sealed partial class BlobFill(RepositoryRef repository, Digest digest, long? declaredSize, FillContext context, Task<long?>? storeLookup = null)
{
    private readonly TaskCompletionSource<long?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _written;
    private volatile bool _verified;
    private volatile FillState _state;
    private volatile string? _spoolPath;
    private Spool? _spool;
    private System.Security.Cryptography.IncrementalHash? _hasher;
    // The fill holds its spool, and so does every reader until it has opened it: the last one to
    // let go removes a spool that the store did not take.
    private int _holds = 1;
    // Its repository may have the blob: its upstream served it, or the link was confirmed. A blob
    // that comes from another replica or from the store was fetched for some repository, not
    // necessarily this one.
    private bool _linked;

    public RepositoryRef Repository { get; } = repository;
    public Digest Digest { get; } = digest;
    public ProgressSignal Progress { get; } = new();
    public FillState State => _state;
    public long Written => Interlocked.Read(ref _written);
    /// <summary>Size and digest matched: readers may have their final byte. Set after the final <see cref="Written"/>.</summary>
    public bool Verified => _verified;
    public string? SpoolPath => _spoolPath;
    public Exception? Failure { get; private set; }
    /// <summary>The fill failed because the local disk did (full, read-only, I/O error), not because of the upstream.</summary>
    public bool SpoolFailed { get; private set; }
    /// <summary>The upstream endpoint that serves the bytes.</summary>
    public string? Endpoint { get; private set; }
    /// <summary>True when the blob came through but could not be stored (blob store down).</summary>
    public bool NotStored { get; private set; }
    /// <summary>The blob came from another replica's fill (or its stored copy) and is stored by that replica, not this fill.</summary>
    public bool StoredElsewhere { get; private set; }
    /// <summary>Readers finish from the spool rather than the store: this fill did not put the blob there.</summary>
    public bool ReadFromSpool => NotStored || StoredElsewhere;
    /// <summary>Times the upstream connection was resumed.</summary>
    public int Resumes { get; private set; }
    /// <summary>The fill's trace span (W3C id), for the requests that join it; null when nobody traces.</summary>
    public string? SpanId { get; internal set; }
    /// <summary>The blob's size once known (from the upstream's headers or the manifest), for progress reports.</summary>
    public long? ExpectedSize => _started.Task.IsCompletedSuccessfully ? _started.Task.Result : declaredSize;
    /// <summary>Completes with the blob size (null if nobody gave one) once bytes are on their way.</summary>
    public Task<long?> Started => _started.Task;

    internal async Task RunAsync(CancellationToken ct)
    {
        try
        {
            var waitUntil = context.Time.GetUtcNow() + context.Options.LeaseWait;
            string? waitingFor = null;
            // The request that started this fill has looked in the store, or is looking: the first
            // round goes straight to the lease (whose holder looks again), which saves a round trip.
            var lookup = storeLookup;
            while (true)
            {
                if (lookup is null && await StoredAsync(ct)) return;
                var lease = await AcquireLeaseAsync(ct);
                if (lease.Held is { } held)
                {
                    await using (held)
                    {
                        // Another replica may have committed between the check above and the lease.
                        if (await CommittedMeanwhileAsync(ct) && await StoredAsync(ct)) return;
                        if (await DownloadAsync(held, lookup, ct)) return;
                        // The store had it after all: the index had lost its record.
                        if (await StoredAsync(ct))
                        {
                            await RecordFoundAsync();
                            return;
                        }
                        await DownloadAsync(held, null, ct);
                    }
                    return;
                }
                lookup = null;
                if (context.Time.GetUtcNow() > waitUntil)
                {
                    Log.WaitedTooLong(context.Log, Digest.ToString(), lease.Holder, context.Options.LeaseWait);
                    await DownloadAsync(null, null, ct);
                    return;
                }
                if (lease.PeerUrl is { } peer && context.Peers is { } peers && await FollowPeerAsync(peers, peer, lease.Holder, ct)) return;
                if (waitingFor != lease.Holder)
                {
                    waitingFor = lease.Holder;
                    if (lease.PeerUrl is null) Log.WaitingForReplica(context.Log, Digest.ToString(), lease.Holder, context.Options.LeaseWait);
                    await AnnounceSizeAsync(ct);
                }
                await Task.Delay(context.Options.LeasePoll, context.Time, ct);
            }
        }
        catch (Exception e)
        {
            Failure = e;
            SpoolFailed = e is StoreUnavailableException s && s.Store == context.Spools.Name;
            if (SpoolFailed) Log.SpoolFailed(context.Log, Digest.ToString(), e.Message);
            _state = FillState.Failed;
            _started.TrySetException(AsRegistryError(e));
            throw;
        }
        finally
        {
            _hasher?.Dispose();
            if (_spool is not null) await _spool.CloseAsync();
            Progress.Pulse();
            Release();
        }
    }

    /// <summary>
    /// True (and the fill is over) when the blob is already in the store, committed by a fill here
    /// or on another replica. A fill that has a spool (bytes from a replica that went away, or none
    /// from an upstream that was outrun by the store) finishes it from the stored copy: its readers
    /// follow the spool and must not jump.
    /// </summary>
    private async Task<bool> StoredAsync(CancellationToken ct)
    {
        if (await context.Store.TryGetSizeAsync(Digest, declaredSize, ct) is not long stored) return false;
        await ConfirmLinkAsync(ct);
        if (_spool is not null)
        {
            _started.TrySetResult(stored); // readers follow the spool as it fills
            await using (var rest = await OpenCommittedAsync(_written, null, ct)) await CopyFromAsync(rest, stored, ct);
            Verify(stored, "the blob store");
            StoredElsewhere = true;
        }
        _written = stored;
        _verified = true;
        _state = FillState.Committed;
        _started.TrySetResult(stored);
        return true;
    }

    private async Task RecordFoundAsync()
    {
        Log.FoundUnrecorded(context.Log, Digest.ToString());
        try
        {
            await context.Index.RecordBlobAsync(Digest, _written, context.Time.GetUtcNow(), CancellationToken.None);
        }
        catch (StoreUnavailableException)
        {
            // The next request asks the store again.
        }
    }

    /// <summary>
    /// Whether the blob may have been committed since the store was last asked: a commit records it
    /// in the index before it lets the lease go, and the index answers faster than a blob store
    /// (one Redis or SQLite lookup, not an S3 request) on the way to the first byte.
    /// </summary>
    private Task<bool> CommittedMeanwhileAsync(CancellationToken ct) => context.Index.MayRecordAsync(Digest, ct);

    /// <summary>Before anything from elsewhere is announced to this fill's readers: their repository may have it.</summary>
    private async Task ConfirmLinkAsync(CancellationToken ct)
    {
        if (_linked) return;
        await BlobLinks.EnsureAsync(context.Metadata, Repository, Digest, ct);
        _linked = true;
    }

    private async Task<FillLeaseResult> AcquireLeaseAsync(CancellationToken ct)
    {
        try
        {
            return await context.Lease.TryAcquireAsync(Digest, ct);
        }
        catch (StoreUnavailableException e)
        {
            // Without the coordinator, a duplicate download beats no download.
            Log.LeaseUnavailable(context.Log, Digest.ToString(), e.Message);
            return new FillLeaseResult(LocalFillLease.Granted, null);
        }
    }

    /// <summary>
    /// While another replica downloads, the waiting clients get their headers now rather than at
    /// its commit: the size comes from the manifest or an upstream HEAD (free on Docker Hub).
    /// </summary>
    private async Task AnnounceSizeAsync(CancellationToken ct)
    {
        if (_started.Task.IsCompleted) return;
        await ConfirmLinkAsync(ct);
        if (declaredSize is long declared)
        {
            _started.TrySetResult(declared);
            return;
        }
        try
        {
            using var head = await Repository.Upstream.HeadBlobAsync(Repository.Name, Digest, ct);
            if (head.ContentLength is long size) _started.TrySetResult(size);
        }
        catch (Upstream.UpstreamException)
        {
            // The headers then wait for the other replica's commit.
        }
    }

    private async Task CommitAsync(IBlobWriter writer, IHeldLease? lease, CancellationToken ct)
    {
        if (lease is not null && !await StillHeldAsync(lease, ct))
        {
            if (await context.Store.TryGetSizeAsync(Digest, declaredSize, ct) is not null)
            {
                Log.LostLeaseDiscarded(context.Log, Digest.ToString());
                return; // the other replica's copy is the same verified content
            }
            Log.LostLeaseCommitting(context.Log, Digest.ToString());
        }
        using var span = Telemetry.Tracing.Source.StartActivity("store write");
        span?.SetTag("cacheregistry.digest", Digest.ToString()).SetTag("cacheregistry.bytes", _written);
        try
        {
            await writer.CommitAsync(ct);
        }
        catch (StoreUnavailableException e)
        {
            span.Fail(e);
            // Readers already hold every verified byte; the blob is just not kept this time.
            NotStored = true;
            Log.StreamingWithoutStore(context.Log, Digest.ToString(), e.Message);
            return;
        }
        try
        {
            await context.Metadata.LinkAsync(Repository.Key, [Digest], CancellationToken.None);
            await context.Index.RecordBlobAsync(Digest, _written, context.Time.GetUtcNow(), CancellationToken.None);
        }
        catch (StoreUnavailableException)
        {
            // The blob is stored; the next request for this repository re-checks the link upstream.
        }
    }

    private static async Task<bool> StillHeldAsync(IHeldLease lease, CancellationToken ct)
    {
        try
        {
            return await lease.IsStillHeldAsync(ct);
        }
        catch (StoreUnavailableException)
        {
            return true; // nobody can have taken it over while the coordinator is away
        }
    }

    /// <summary>Takes a hold on the spool for a reader; false once the fill and all its readers let go.</summary>
    internal bool TryHold()
    {
        var holds = Volatile.Read(ref _holds);
        while (holds > 0)
        {
            var seen = Interlocked.CompareExchange(ref _holds, holds + 1, holds);
            if (seen == holds) return true;
            holds = seen;
        }
        return false;
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _holds) == 0) _spool?.Delete();
    }

    /// <summary>The committed blob from the store, from <paramref name="offset"/>.</summary>
    internal async Task<Stream> OpenCommittedAsync(long offset, long? length, CancellationToken ct) =>
        await context.Store.OpenReadAsync(Digest, offset, length, ct)
        ?? throw new IOException($"blob {Digest} was committed but is no longer in storage");

    internal static RegistryError AsRegistryError(Exception e) => e switch
    {
        RegistryError r => r,
        Upstream.UpstreamException u => u.ToRegistryError("BLOB_UNKNOWN"),
        StoreUnavailableException s => new RegistryError(503, "UNAVAILABLE", s.Message) { RetryAfterSeconds = 5 },
        OperationCanceledException => new RegistryError(503, "UNAVAILABLE", "the blob fill was cancelled (timeout or shutdown)"),
        _ => new RegistryError(500, "UNKNOWN", $"storing the blob failed: {e.Message}"),
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 310, Level = LogLevel.Warning, Message = "fill {Digest}: upstream connection lost after {Bytes} bytes, resuming ({Attempt}/{Budget}): {Reason}")]
        public static partial void Resuming(ILogger logger, string digest, long bytes, int attempt, int budget, string reason);

        [LoggerMessage(EventId = 311, Level = LogLevel.Warning, Message = "fill {Digest}: blob store unavailable, streaming without storing: {Reason}")]
        public static partial void StreamingWithoutStore(ILogger logger, string digest, string reason);

        [LoggerMessage(EventId = 312, Level = LogLevel.Warning, Message = "fill {Digest}: lease coordinator unavailable, downloading here: {Reason}")]
        public static partial void LeaseUnavailable(ILogger logger, string digest, string reason);

        [LoggerMessage(EventId = 313, Level = LogLevel.Information, Message = "fill {Digest}: replica {Holder} is downloading it; waiting for its commit (at most {Wait})")]
        public static partial void WaitingForReplica(ILogger logger, string digest, string? holder, TimeSpan wait);

        [LoggerMessage(EventId = 314, Level = LogLevel.Warning, Message = "fill {Digest}: replica {Holder} did not commit within {Wait}; downloading here too")]
        public static partial void WaitedTooLong(ILogger logger, string digest, string? holder, TimeSpan wait);

        [LoggerMessage(EventId = 315, Level = LogLevel.Warning, Message = "fill {Digest}: this replica lost its lease and another one committed the blob; this verified copy is not uploaded again")]
        public static partial void LostLeaseDiscarded(ILogger logger, string digest);

        [LoggerMessage(EventId = 316, Level = LogLevel.Warning, Message = "fill {Digest}: this replica lost its lease but the blob is not stored yet; committing this verified copy")]
        public static partial void LostLeaseCommitting(ILogger logger, string digest);

        [LoggerMessage(EventId = 322, Level = LogLevel.Warning, Message = "fill {Digest}: the blob store holds it but the index had no record of it (index lost or flushed?); served from the store and recorded, not downloaded again")]
        public static partial void FoundUnrecorded(ILogger logger, string digest);

        [LoggerMessage(EventId = 317, Level = LogLevel.Warning, Message = "fill {Digest}: the local disk failed ({Reason}); its readers go on straight from the upstream")]
        public static partial void SpoolFailed(ILogger logger, string digest, string reason);
    }
}

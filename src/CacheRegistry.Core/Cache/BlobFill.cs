using System.Buffers;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>What a fill needs from its surroundings.</summary>
public sealed record FillContext(IBlobStore Store, IMetadataStore Metadata, IBlobIndex Index, IFillLease Lease, FillOptions Options,
    SpoolDirectory Spools, long MaxBlobBytes, TimeProvider Time, ILogger Log, CacheMetrics Metrics)
{
    /// <summary>Other replicas' running fills, when replicas stream to each other (Registry:Cluster): the replica origin is there only then.</summary>
    public Cluster.IPeerFills? Peers { get; init; }
}

/// <summary>
/// One download of one blob, owned by the cache rather than by a request. The core never changes:
/// it writes into its spool (which its readers follow and the store takes in), hashes as bytes
/// land, and commits only when size and digest match; any number of readers follow it from any
/// offset, their last byte held back until then. Its bytes come from origins (<see cref="IFillOrigin"/>)
/// in turn, the spool and hash carrying over from one to the next: the stored copy, then under the
/// cluster's lease the upstream (resumed with Range when its connection drops), or without the
/// lease the holder's running fill on another replica (Registry:Cluster) or a wait for its commit.
/// With the blob store down it still streams (and verifies) to its readers, without storing.
/// </summary>
/// <param name="storeLookup">The store's answer the starting request asked for; it may still be on its way (see BlobCache).</param>
public sealed partial class BlobFill(RepositoryRef repository, Digest digest, long? declaredSize, FillContext context, Task<long?>? storeLookup = null)
{
    private const int ChunkSize = 64 * 1024;
    private readonly TaskCompletionSource<long?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StoredCopyOrigin _stored = new(context.Store, context.Index, digest, declaredSize, storeLookup, context.Time, context.Log);
    private readonly UpstreamOrigin _upstream = new(repository, digest, context.Metrics, context.Time);
    private long _written;
    private volatile bool _verified;
    private volatile bool _readFromSpool;
    private volatile FillOutcome _outcome;
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
    private string? _lostPeer;

    public RepositoryRef Repository { get; } = repository;
    public Digest Digest { get; } = digest;
    public ProgressSignal Progress { get; } = new();
    public FillOutcome Outcome => _outcome;
    public long Written => Interlocked.Read(ref _written);
    /// <summary>Size and digest matched: readers may have their final byte. Set after the final <see cref="Written"/>.</summary>
    public bool Verified => _verified;
    public string? SpoolPath => _spoolPath;
    public Exception? Failure { get; private set; }
    /// <summary>The fill failed because the local disk did (full, read-only, I/O error), not because of where its bytes came from.</summary>
    public bool SpoolFailed => Failure is StoreUnavailableException s && s.Store == context.Spools.Name;
    /// <summary>Where the bytes came from: an upstream endpoint, or "replica host:port".</summary>
    public string? Endpoint { get; private set; }
    /// <summary>Readers finish from the spool rather than the store: the blob is not in the store, or this fill did not put it there.</summary>
    public bool ReadFromSpool => _readFromSpool;
    /// <summary>Times the upstream connection was resumed.</summary>
    public int Resumes { get; private set; }
    /// <summary>The fill's trace span (W3C id), for the requests that join it; null when nobody traces.</summary>
    public string? SpanId { get; internal set; }
    /// <summary>The blob's size once known (from an origin's headers or the manifest), for progress reports.</summary>
    public long? ExpectedSize => _started.Task.IsCompletedSuccessfully ? _started.Task.Result : declaredSize;
    /// <summary>Completes with the blob size (null if nobody gave one) once bytes are on their way.</summary>
    public Task<long?> Started => _started.Task;

    internal async Task RunAsync(CancellationToken ct)
    {
        try
        {
            var outcome = await FillAsync(ct);
            // Readers look at how a fill ended only once it has: what they need first.
            _readFromSpool = outcome is FillOutcome.NotStored or FillOutcome.FromReplica || (outcome == FillOutcome.FoundInStore && _spool is not null);
            _outcome = outcome;
            _started.TrySetResult(_written);
        }
        catch (Exception e)
        {
            Failure = e;
            if (SpoolFailed) Log.SpoolFailed(context.Log, Digest.ToString(), e.Message);
            _outcome = FillOutcome.Failed;
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
    /// The run: the stored copy; then, holding the lease, the upstream; without it, the holder's
    /// running fill on another replica or a wait for its commit, until the lease is free or the
    /// wait is too long (then the upstream, lease or not).
    /// </summary>
    private async Task<FillOutcome> FillAsync(CancellationToken ct)
    {
        var waitUntil = context.Time.GetUtcNow() + context.Options.LeaseWait;
        string? waitingFor = null;
        while (true)
        {
            // The request that started this fill has looked in the store, or is looking: the first
            // round goes straight to the lease (whose holder takes that answer), which saves a round trip.
            if (!_stored.HasPendingLookup && await FinishFromStoreAsync(ct)) return FillOutcome.FoundInStore;
            var lease = await AcquireLeaseAsync(ct);
            if (lease.Held is { } held)
            {
                await using (held)
                {
                    // Another replica may have committed between the check above and the lease.
                    if (await CommittedMeanwhileAsync(ct) && await FinishFromStoreAsync(ct)) return FillOutcome.FoundInStore;
                    return await DownloadAsync(held, ct);
                }
            }
            _ = _stored.TakePendingLookup(); // later rounds ask the store afresh
            if (context.Time.GetUtcNow() > waitUntil)
            {
                Log.WaitedTooLong(context.Log, Digest.ToString(), lease.Holder, context.Options.LeaseWait);
                return await DownloadAsync(null, ct);
            }
            if (lease.PeerUrl is { } peer && context.Peers is { } peers && await FollowReplicaAsync(new ReplicaOrigin(peers, Digest, peer, lease.Holder), ct))
                return FillOutcome.FromReplica;
            if (waitingFor != lease.Holder)
            {
                waitingFor = lease.Holder;
                if (lease.PeerUrl is null) Log.WaitingForReplica(context.Log, Digest.ToString(), lease.Holder, context.Options.LeaseWait);
                await AnnounceSizeAsync(ct);
            }
            await Task.Delay(context.Options.LeasePoll, context.Time, ct);
        }
    }

    /// <summary>
    /// True (and the fill is over) when the blob is already in the store, committed by a fill here
    /// or on another replica. A fill that has a spool (bytes from a replica that went away, or none
    /// from an upstream that was outrun by the store) finishes it from the stored copy: its readers
    /// follow the spool and must not jump.
    /// </summary>
    private async Task<bool> FinishFromStoreAsync(CancellationToken ct)
    {
        if (await _stored.SizeAsync(ct) is not long stored) return false;
        await ConfirmLinkAsync(ct);
        if (_spool is not null)
        {
            _started.TrySetResult(stored); // readers follow the spool as it fills
            if (await CopyAsync(_stored, null, null, ct) is null) throw new IOException($"blob {Digest} was committed but is no longer in storage");
            Verify(stored, "the blob store");
        }
        _written = stored;
        _verified = true;
        return true;
    }

    /// <summary>
    /// From the upstream. The first time, the starting request's store lookup races the upstream:
    /// when the store holds the blob after all (the index had lost its record), it is read from there.
    /// </summary>
    private async Task<FillOutcome> DownloadAsync(IHeldLease? lease, CancellationToken ct)
    {
        if (await DownloadFromUpstreamAsync(lease, _stored.TakePendingLookup(), ct) is { } outcome) return outcome;
        if (await FinishFromStoreAsync(ct))
        {
            await _stored.RecordFoundAsync(_written);
            return FillOutcome.FoundInStore;
        }
        return await DownloadFromUpstreamAsync(lease, null, ct) ?? throw new InvalidOperationException("a download without a store lookup has no store answer to yield to");
    }

    /// <returns>Null when <paramref name="storeLookup"/> answered first that the store holds the blob: nothing was downloaded.</returns>
    private async Task<FillOutcome?> DownloadFromUpstreamAsync(IHeldLease? lease, Task<long?>? storeLookup, CancellationToken ct)
    {
        using var turn = await _upstream.TakeTurnAsync(declaredSize, _written, ct);
        var spool = OpenSpool();
        IBlobWriter? writer = null;
        try
        {
            try
            {
                writer = await context.Store.BeginWriteAsync(Digest, spool, ct);
                if (_written > 0) await writer.SpoolGrewAsync(ct); // bytes another replica sent before this one took over
            }
            catch (StoreUnavailableException e)
            {
                Log.StreamingWithoutStore(context.Log, Digest.ToString(), e.Message);
            }
            if (await _upstream.PoolAsync(ExpectedSize, _written, context.Options.ResumeAttempts, context.Log, ct) is var (pool, total))
            {
                if (storeLookup is not null && await StoredCopyOrigin.HoldsAsync(storeLookup)) return null;
                var pooled = await FillFromPoolAsync(pool, total, writer, ct);
                if (pooled is { } repaired)
                {
                    if (repaired && writer is not null)
                    {
                        // Parts of the spool were rewritten after a store (S3) may have taken them: it takes the whole blob again.
                        await writer.DisposeAsync();
                        writer = null;
                        writer = await context.Store.BeginWriteAsync(Digest, spool, ct);
                        await writer.SpoolGrewAsync(ct);
                    }
                    return writer is null ? FillOutcome.NotStored : await CommitAsync(writer, lease, ct);
                }
                // The pool could not finish (its endpoints failed or ignore Range): the chain goes on after the bytes in order.
            }
            Func<CancellationToken, Task<OriginBody?>>? first = storeLookup is null ? null : c => StoredCopyOrigin.UnlessStoredAsync(storeLookup, o => _upstream.OpenAsync(_written, o), c);
            if (await CopyAsync(_upstream, writer, first, ct) is not { } copied) return null;
            Verify(copied.Expected, copied.Source);
            return writer is null ? FillOutcome.NotStored : await CommitAsync(writer, lease, ct);
        }
        finally
        {
            if (writer is not null) await writer.DisposeAsync();
        }
    }

    /// <summary>
    /// The rest of the blob from every endpoint of the pool at once, written in place into the
    /// spool; readers get the bytes in order as the gaps close. A blob that fails its digest is
    /// repaired when one endpoint's bytes can be told wrong. Returns whether bytes were rewritten,
    /// or null when the pool could not fetch every segment (the chain then takes over from the bytes in order).
    /// </summary>
    private async Task<bool?> FillFromPoolAsync(SegmentedDownload pool, long total, IBlobWriter? writer, CancellationToken ct)
    {
        _started.TrySetResult(CheckedSize(ExpectedSize, total, pool.Label));
        _linked = true;
        Endpoint = pool.Label;
        using var sink = new SpoolSink(_spool!, _hasher!, _written, async (prefix, c) =>
        {
            Interlocked.Exchange(ref _written, prefix);
            if (writer is not null) await writer.SpoolGrewAsync(c);
            Progress.Pulse();
        });
        try
        {
            await pool.RunAsync(sink, _written, total, ct);
        }
        catch (UpstreamException e) when (e.Failure != UpstreamFailure.Corrupt && !ct.IsCancellationRequested)
        {
            Log.PoolGaveUp(context.Log, Digest.ToString(), _written, e.Message);
            return null;
        }
        var repaired = false;
        if (!Digest.Matches(_hasher!.GetHashAndReset()))
        {
            if (await pool.RepairAsync(sink, total, Repaired, ct) is null)
                throw new UpstreamException(UpstreamFailure.Corrupt, $"{pool.Label} sent bytes that do not hash to {Digest}, and no endpoint's bytes could be told wrong; discarded");
            repaired = true;
            Interlocked.Increment(ref _repairs);
        }
        _verified = true;
        Progress.Pulse();
        return repaired;
    }

    private readonly Lock _repairLock = new();
    private int _repairs;

    /// <summary>Repairs finished: a reader that began before one may have been given bytes it replaced.</summary>
    internal int Repairs => Volatile.Read(ref _repairs);
    private long _repairedFrom = long.MaxValue;
    private long _repairedTo;

    private void Repaired(long from, long to)
    {
        lock (_repairLock)
        {
            _repairedFrom = Math.Min(_repairedFrom, from);
            _repairedTo = Math.Max(_repairedTo, to);
        }
    }

    /// <summary>Whether bytes from <paramref name="from"/> to <paramref name="to"/> were rewritten by a repair (a reader given them must not finish).</summary>
    internal bool RepairedWithin(long from, long to)
    {
        lock (_repairLock) return _repairedFrom < to && _repairedTo > from;
    }

    /// <summary>
    /// Streams the lease holder's running fill into this fill's spool, so this replica's readers get
    /// bytes at the upstream's pace, and checks size and digest itself. True when the whole blob came
    /// through and matched (the holder stores it). False when the holder could not be followed to
    /// the end (gone, restarted, unreachable): the bytes so far stay in the spool, and whoever
    /// downloads next, here or there, resumes after them. Bytes that fail the digest fail the fill.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The body goes to CopyAsync, which disposes it; an unused opening is disposed when done.")]
    private async Task<bool> FollowReplicaAsync(ReplicaOrigin replica, CancellationToken ct)
    {
        OpenSpool();
        var before = _written;
        try
        {
            // The holder fills it for some repository: this one's link is checked while the holder answers.
            var opening = replica.OpenAsync(_written, ct);
            try
            {
                await ConfirmLinkAsync(ct);
            }
            catch
            {
                opening.DisposeWhenDone(); // the link's failure is the one that counts
                throw;
            }
            var body = await opening;
            if (body is null) return false;
            if (body.Total is null) await AnnounceSizeAsync(ct);
            if (before == 0) Log.FollowingReplica(context.Log, Digest.ToString(), replica.Source);
            var copied = await CopyAsync(replica, null, _ => Task.FromResult<OriginBody?>(body), ct);
            if (copied is not { } c || (c.Expected is long e && _written < e)) return false;
            Verify(c.Expected, c.Source);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException && !ct.IsCancellationRequested)
        {
            if (_lostPeer != replica.Source) Log.ReplicaLost(context.Log, Digest.ToString(), replica.Source, _written, e.Message);
            _lostPeer = replica.Source;
            return false;
        }
    }

    /// <summary>
    /// Copies an origin's body into the spool from <see cref="Written"/> on, never past the size
    /// every source agrees on; a resumable origin is opened again where a cut body stopped.
    /// <paramref name="first"/> opens it the first time, when that is not a plain open.
    /// </summary>
    /// <returns>The blob size if known, and who sent the bytes; null when the origin (or <paramref name="first"/>) had nothing.</returns>
    private async Task<(long? Expected, string Source)?> CopyAsync(IFillOrigin origin, IBlobWriter? writer, Func<CancellationToken, Task<OriginBody?>>? first,
        CancellationToken ct)
    {
        var expected = ExpectedSize;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var backoff = context.Options.ResumeBackoff;
        try
        {
            while (true)
            {
                try
                {
                    var open = first ?? (c => origin.OpenAsync(_written, c));
                    first = null;
                    using var body = await open(ct);
                    if (body is null) return null;
                    if (body.Endpoint is not null) Endpoint = body.Endpoint;
                    if (body.ConfirmsLink) _linked = true;
                    expected = CheckedSize(expected, body.Total, body.Source);
                    // An upstream that gives no size never will; another replica's fill may learn it later.
                    if (expected is not null || origin.Resumable) _started.TrySetResult(expected);
                    // A resumed request answered 200 (Range ignored) repeats bytes we hold: drop them.
                    var skip = _written - body.From;
                    var limit = expected ?? context.MaxBlobBytes;
                    int n;
                    while ((n = await body.Body.ReadAsync(buffer.AsMemory(0, ChunkSize), ct)) > 0)
                    {
                        body.Received?.Invoke(n);
                        var chunk = buffer.AsMemory(0, n);
                        if (skip > 0)
                        {
                            var dropped = (int)Math.Min(skip, n);
                            skip -= dropped;
                            chunk = chunk[dropped..];
                            if (chunk.IsEmpty) continue;
                        }
                        if (_written + chunk.Length > limit)
                            throw Corrupt(body.Source, expected is null
                                ? $"sent more than {limit} bytes for {Digest}, the most this cache takes for one blob (Registry:MaxBlobSize)"
                                : $"sent more than the {limit} bytes of {Digest}");
                        await AppendAsync(chunk, writer, ct);
                    }
                    if (expected is null || _written >= expected || !origin.Resumable) return (expected, body.Source);
                    throw new IOException($"upstream body ended after {_written} of {expected} bytes");
                }
                catch (Exception e) when (origin.Resumable && IsResumable(e) && !ct.IsCancellationRequested && Resumes < context.Options.ResumeAttempts
                                          && (_written > 0 || e is not UpstreamException))
                {
                    Resumes++;
                    Log.Resuming(context.Log, Digest.ToString(), _written, Resumes, context.Options.ResumeAttempts, e.Message);
                    await Task.Delay(backoff, context.Time, ct);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The fill's spool, made on first use and kept across origins (another replica, then the upstream).</summary>
    private Spool OpenSpool()
    {
        if (_spool is null)
        {
            _spool = context.Spools.Create(Digest);
            _hasher = Digest.CreateHasher();
            _spoolPath = _spool.Path;
            Progress.Pulse();
        }
        return _spool;
    }

    /// <summary>Spool first, hash after: a failed write must not leave the hash ahead of the file.</summary>
    private async ValueTask AppendAsync(ReadOnlyMemory<byte> chunk, IBlobWriter? writer, CancellationToken ct)
    {
        await _spool!.AppendAsync(chunk, ct);
        _hasher!.AppendData(chunk.Span);
        Interlocked.Add(ref _written, chunk.Length);
        if (writer is not null) await writer.SpoolGrewAsync(ct);
        Progress.Pulse();
    }

    /// <summary>Size and digest match, or the fill fails: only then may readers have their final byte.</summary>
    private void Verify(long? expected, string source)
    {
        if (expected is long size && _written != size)
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{source} ended {Digest} after {_written} of {size} bytes");
        if (!Digest.Matches(_hasher!.GetHashAndReset()))
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{source} sent bytes that do not hash to {Digest}; discarded");
        _verified = true;
        Progress.Pulse(); // readers may have their final bytes; the store commit may take longer
    }

    /// <summary>The size every source agrees on: the manifest's descriptor, the first response, every resume, another replica.</summary>
    private long? CheckedSize(long? known, long? announced, string source)
    {
        if (announced is not long size) return known;
        if (known is long k && k != size)
            throw Corrupt(source, $"announced {size} bytes for {Digest}, but {(k == declaredSize ? "its manifest declares" : "it announced before")} {k}");
        if (size > context.MaxBlobBytes)
            throw Corrupt(source, $"announced {size} bytes for {Digest}, more than this cache takes for one blob ({context.MaxBlobBytes}, Registry:MaxBlobSize)");
        return size;
    }

    private static UpstreamException Corrupt(string source, string what) => new(UpstreamFailure.Corrupt, $"{source} {what}; nothing stored");

    // Disk errors surface as StoreUnavailableException (the spool's), never as a dropped connection.
    private static bool IsResumable(Exception e) => e switch
    {
        UpstreamException u => u.IsTransient,
        IOException or HttpRequestException or TimeoutException => true,
        _ => false,
    };

    private async Task<FillOutcome> CommitAsync(IBlobWriter writer, IHeldLease? lease, CancellationToken ct)
    {
        if (lease is not null && !await StillHeldAsync(lease, ct))
        {
            if (await context.Store.TryGetSizeAsync(Digest, declaredSize, ct) is not null)
            {
                Log.LostLeaseDiscarded(context.Log, Digest.ToString());
                return FillOutcome.Committed; // the other replica's copy is the same verified content
            }
            Log.LostLeaseCommitting(context.Log, Digest.ToString());
        }
        using var span = Tracing.Source.StartActivity("store write");
        span?.SetTag("cacheregistry.digest", Digest.ToString()).SetTag("cacheregistry.bytes", _written);
        try
        {
            await writer.CommitAsync(ct);
        }
        catch (StoreUnavailableException e)
        {
            span.Fail(e);
            // Readers already hold every verified byte; the blob is just not kept this time.
            Log.StreamingWithoutStore(context.Log, Digest.ToString(), e.Message);
            return FillOutcome.NotStored;
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
        return FillOutcome.Committed;
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
            if (await _upstream.HeadSizeAsync(ct) is long size) _started.TrySetResult(size);
        }
        catch (UpstreamException)
        {
            // The headers then wait for the other replica's commit.
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
        UpstreamException u => u.ToRegistryError("BLOB_UNKNOWN"),
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

        [LoggerMessage(EventId = 317, Level = LogLevel.Warning, Message = "fill {Digest}: the local disk failed ({Reason}); its readers go on straight from the upstream")]
        public static partial void SpoolFailed(ILogger logger, string digest, string reason);

        [LoggerMessage(EventId = 318, Level = LogLevel.Information, Message = "fill {Digest}: {Replica} is downloading it; streaming its running fill from there")]
        public static partial void FollowingReplica(ILogger logger, string digest, string replica);

        [LoggerMessage(EventId = 346, Level = LogLevel.Warning, Message = "fill {Digest}: the pool could not fetch every segment ({Reason}); the endpoint chain goes on from byte {Bytes}")]
        public static partial void PoolGaveUp(ILogger logger, string digest, long bytes, string reason);

        [LoggerMessage(EventId = 319, Level = LogLevel.Warning, Message = "fill {Digest}: {Replica} could not be followed after {Bytes} bytes: {Reason}; waiting for its lease to move")]
        public static partial void ReplicaLost(ILogger logger, string digest, string replica, long bytes, string reason);
    }
}

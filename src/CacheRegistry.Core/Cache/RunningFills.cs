using System.Diagnostics;
using CacheRegistry.Telemetry;
using System.Collections.Concurrent;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>
/// The fills running in this process, one per digest. A fill runs under the background-work
/// owner, not a request, bounded by the fill timeout; shutdown gives running fills a grace period.
/// </summary>
public sealed partial class RunningFills(IBlobStore store, IMetadataStore metadata, IBlobIndex index, IFillLease lease, SpoolDirectory spools,
    BackgroundWork work, RegistryOptions options, TimeProvider time, ILogger<RunningFills> log, CacheMetrics? metrics = null, NegativeCache? missing = null, Cluster.IPeerFills? peers = null)
{
    private readonly CacheMetrics _metrics = metrics ?? CacheMetrics.Unobserved;
    private readonly ConcurrentDictionary<Digest, BlobFill> _active = new();
    private readonly ProgressSignal _ended = new();
    private readonly FillContext _context = new(store, metadata, index, lease, options.Fill, spools, options.MaxBlobBytes, time, log, metrics ?? CacheMetrics.Unobserved)
    {
        Peers = peers,
    };

    public int Count => _active.Count;

    /// <summary>The fills running now, for progress reports.</summary>
    public IReadOnlyList<BlobFill> Active => [.. _active.Values];

    /// <summary>
    /// The running fill for the digest, or a new one started for <paramref name="repository"/>,
    /// with a hold on its spool that the caller must <see cref="BlobFill.Release"/>.
    /// </summary>
    /// <param name="declaredSize">The size a manifest declares for the blob, when one is known.</param>
    /// <param name="storeLookup">The blob store's answer for the digest, which the caller may still be waiting for; null when nobody asked.</param>
    public (BlobFill Fill, bool Started) GetOrStart(RepositoryRef repository, Digest digest, long? declaredSize, Task<long?>? storeLookup = null)
    {
        while (true)
        {
            if (_active.TryGetValue(digest, out var running))
            {
                if (running.TryHold()) return (running, false);
                _active.TryRemove(new KeyValuePair<Digest, BlobFill>(digest, running)); // over, and its spool gone
                continue;
            }
            // A fill that ended in the upstream's 404 is remembered before it leaves _active: a
            // request that checked before that and comes here after finds the 404, not a new download.
            missing?.ThrowIfMissing(repository, digest.ToString(), "BLOB_UNKNOWN");
            var fill = new BlobFill(repository, digest, declaredSize, _context, storeLookup);
            fill.TryHold();
            if (!_active.TryAdd(digest, fill)) continue;
            Start(fill);
            return (fill, true);
        }
    }

    public BlobFill? Find(Digest digest) => _active.GetValueOrDefault(digest);

    /// <summary>
    /// Runs the fill in the background under its own span, a child of the request that started it;
    /// that request's own span stays current for it.
    /// </summary>
    private void Start(BlobFill fill)
    {
        var caller = Activity.Current;
        var span = Tracing.Source.StartActivity("fill");
        if (span is not null)
        {
            span.SetTag("cacheregistry.registry", fill.Repository.Upstream.Name).SetTag("cacheregistry.repository", fill.Repository.Name)
                .SetTag("cacheregistry.digest", fill.Digest.ToString());
            fill.SpanId = span.Id;
        }
        _ = Task.Run(() => RunAsync(fill, span));
        Activity.Current = caller;
    }

    private async Task RunAsync(BlobFill fill, Activity? span)
    {
        using var cts = work.Bounded(options.Timeouts.Fill);
        _metrics.FillStarted();
        var outcome = "committed";
        try
        {
            await fill.RunAsync(cts.Token);
            string result;
            (outcome, result) = fill.Outcome switch
            {
                FillOutcome.NotStored => ("not stored", "not stored (blob store down)"),
                FillOutcome.FromReplica => ("from replica", "streamed (stored by another replica)"),
                FillOutcome.FoundInStore => ("found in store", "found in the blob store"),
                _ => ("committed", "committed"),
            };
            if (fill.Outcome == FillOutcome.FromReplica) _metrics.FillFromReplica();
            Log.FillDone(log, fill.Repository.Key, fill.Digest.ToString(), fill.Written, fill.Endpoint, fill.Resumes, result);
        }
        #pragma warning disable CA1031 // a fill's failure is logged and handed to its readers; nothing may escape into the thread pool
        catch (Exception e)
        {
            Log.FillFailed(log, fill.Repository.Key, fill.Digest.ToString(), fill.Written, e.Message);
            outcome = FailureReason(fill, e);
            if (e is Upstream.UpstreamException { Failure: Upstream.UpstreamFailure.NotFound }) missing?.Remember(fill.Repository, fill.Digest.ToString());
            _metrics.FillFailed(outcome);
            span.Fail(e);
        }
        #pragma warning restore CA1031
        finally
        {
            span?.SetTag("cacheregistry.bytes", fill.Written).SetTag("cacheregistry.resumes", fill.Resumes)
                .SetTag("cacheregistry.fill.outcome", outcome).SetTag("server.address", fill.Endpoint);
            span?.Dispose();
            _active.TryRemove(new KeyValuePair<Digest, BlobFill>(fill.Digest, fill));
            _metrics.FillEnded();
            if (fill.Resumes > 0) _metrics.FillResumed(fill.Resumes);
            _ended.Pulse();
        }
    }

    /// <summary>A bounded label: what the upstream did wrong, or that the disk, the store or shutdown ended it.</summary>
    private static string FailureReason(BlobFill fill, Exception e) => e switch
    {
        _ when fill.SpoolFailed => "disk",
        Upstream.UpstreamException u => u.Failure.ToString().ToLowerInvariant(),
        StoreUnavailableException => "store",
        OperationCanceledException => "cancelled",
        TimeoutException => "timeout",
        _ => "other",
    };

    /// <summary>Waits for running fills up to <paramref name="grace"/>, then cancels what is left (and all other background work).</summary>
    public async Task DrainAsync(TimeSpan grace)
    {
        var deadline = time.GetUtcNow() + grace;
        while (true)
        {
            var next = _ended.NextAsync();
            var left = deadline - time.GetUtcNow();
            if (_active.IsEmpty || left <= TimeSpan.Zero) break;
            await next.WaitAsync(left, time).ContinueWith(_ => { }, TaskScheduler.Default);
        }
        if (!_active.IsEmpty) Log.CancellingFills(log, _active.Count);
        await work.StopAsync();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "fill {Repository}@{Digest} {Result}: {Bytes} bytes from {Endpoint}, {Resumes} resumes")]
        public static partial void FillDone(ILogger logger, string repository, string digest, long bytes, string? endpoint, int resumes, string result);

        [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "fill {Repository}@{Digest} failed after {Bytes} bytes, nothing stored: {Reason}")]
        public static partial void FillFailed(ILogger logger, string repository, string digest, long bytes, string reason);

        [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "shutdown: cancelling {Count} unfinished fills")]
        public static partial void CancellingFills(ILogger logger, int count);
    }
}

using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>
/// One cold blob fetched from every endpoint of a pool (<c>Strategy=pool</c>) at once: the blob is
/// cut into segments, each asked of one endpoint with a Range request and written where it belongs
/// in the fill's spool. Each endpoint works on several connections, and a connection takes the
/// next segment when it is done, so faster endpoints take more. A segment that receives nothing for
/// <c>HedgeAfter</c> is taken over by another endpoint from where it stopped; an endpoint that
/// answers a Range with the whole blob, or keeps failing, leaves the pool for this blob. Who sent
/// which bytes is kept, so that a digest that fails can be repaired (<see cref="RepairAsync"/>).
/// </summary>
internal sealed partial class SegmentedDownload
{
    private const int ChunkSize = 64 * 1024;
    private const int FailuresBeforeLeaving = 3;
    private readonly RepositoryRef _repository;
    private readonly Digest _digest;
    private readonly PoolOptions _options;
    private readonly int _segmentAttempts;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CacheMetrics _metrics;
    private readonly Action<int>? _received;
    private readonly List<Source> _sources;
    private readonly List<Segment> _segments = [];
    private readonly List<Piece> _pieces = [];
    private readonly object _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _left;
    private Exception? _failure;

    /// <param name="segmentAttempts">How often one segment may fail before the download does.</param>
    /// <param name="received">Told how many body bytes each read took (the quota's reservation).</param>
    public SegmentedDownload(RepositoryRef repository, Digest digest, IReadOnlyList<UpstreamEndpoint> endpoints, PoolOptions options, int segmentAttempts,
        TimeProvider time, ILogger log, CacheMetrics metrics, Action<int>? received)
    {
        _repository = repository;
        _digest = digest;
        _options = options;
        _segmentAttempts = segmentAttempts;
        _time = time;
        _log = log;
        _metrics = metrics;
        _received = received;
        _sources = [.. endpoints.Select(e => new Source(e))];
    }

    private UpstreamClient Upstream => _repository.Upstream;

    /// <summary>Who sent the bytes, for errors and logs.</summary>
    public string Label => $"upstream {Upstream.Name} pool ({string.Join(", ", _sources.Select(s => s.Endpoint.Authority))})";

    /// <summary>Fetches bytes <paramref name="from"/> to <paramref name="total"/> into <paramref name="sink"/>; throws when some could not be fetched from any endpoint.</summary>
    public async Task RunAsync(SpoolSink sink, long from, long total, CancellationToken ct)
    {
        var size = _options.SegmentSize.Bytes;
        for (var start = from; start < total; start += size) _segments.Add(new Segment(start, Math.Min(total, start + size)));
        _left = _segments.Count;
        var connections = Math.Max(1, Math.Min(_options.ConnectionsPerEndpoint, (_segments.Count + _sources.Count - 1) / _sources.Count));
        Log.Started(_log, _digest.ToString(), total - from, _segments.Count, _sources.Count, connections);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var workers = _sources.SelectMany(s => Enumerable.Range(0, connections).Select(_ => GuardedAsync(s))).ToList();
        try
        {
            await Task.WhenAll(workers);
        }
        finally
        {
            await stop.CancelAsync();
        }
        ct.ThrowIfCancellationRequested();
        if (_left > 0)
            throw _failure ?? new UpstreamException(UpstreamFailure.Unavailable, $"{Label}: every endpoint left the pool before {_digest} was complete");

        // What no endpoint can help with (the local disk failed) stops every connection at once.
        async Task GuardedAsync(Source source)
        {
            try
            {
                await WorkAsync(source, sink, total, stop.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                lock (_lock) _failure = e;
                await stop.CancelAsync();
            }
        }
    }

    /// <summary>One connection of one endpoint: takes segments until none is left, the endpoint leaves the pool, or the download fails.</summary>
    private async Task WorkAsync(Source source, SpoolSink sink, long total, CancellationToken ct)
    {
        while (true)
        {
            Segment? segment;
            Attempt? stalled;
            Task changed;
            lock (_lock)
            {
                if (_left == 0 || _failure is not null || source.Left) return;
                (segment, stalled) = Take(source);
                changed = _changed.Task;
            }
            if (segment is null)
            {
                // Nothing to take now: wait for a segment to come free, to stall, or to fall behind.
                try
                {
                    await changed.WaitAsync(TimeSpan.FromTicks(Math.Min(_options.HedgeAfter.Ticks, TimeSpan.TicksPerSecond)), _time, ct);
                }
                catch (TimeoutException)
                {
                }
                continue;
            }
            if (stalled is not null)
            {
                Log.TakingOver(_log, _digest.ToString(), segment.Start, stalled.Source.Endpoint.Authority, source.Endpoint.Authority, _options.HedgeAfter);
                await stalled.StopAsync();
            }
            await FetchAsync(segment, source, sink, total, ct);
        }
    }

    /// <summary>
    /// The segment this connection works on next: first one whose connection stalled on another
    /// endpoint (the blob's readers wait for it), then the first one nobody has, then, at the tail,
    /// the unfetched end of the running segment that would finish last. Under the lock.
    /// </summary>
    private (Segment?, Attempt?) Take(Source source)
    {
        var now = _time.GetTimestamp();
        foreach (var s in _segments)
            if (!s.Done && s.Running is { } r && r.Source != source && !r.Stopping && _time.GetElapsedTime(r.LastProgress, now) > _options.HedgeAfter)
            {
                r.Stopping = true;
                s.Running = new Attempt(source, now);
                return (s, r);
            }
        foreach (var s in _segments)
            if (!s.Done && s.Running is null)
            {
                s.Running = new Attempt(source, now);
                return (s, null);
            }
        return (Steal(source, now), null);
    }

    /// <summary>
    /// Work stealing at the tail: the running segment that would end last is cut where both
    /// connections would finish at the same time (by their measured rates), and this connection
    /// takes the part after the cut. The other one stops there; nothing is fetched twice.
    /// </summary>
    private Segment? Steal(Source source, long now)
    {
        const long MinSteal = 4 * ChunkSize;
        // Only an endpoint whose speed is known steals: an unknown one may be the slowest of all.
        if (source.Endpoint.Throughput is not double mine || mine <= 0) return null;
        Segment? slowest = null;
        var (latest, cut) = (0.0, 0L);
        foreach (var s in _segments)
        {
            if (s.Done || s.Running is not { Stopping: false } r) continue;
            var elapsed = _time.GetElapsedTime(r.Started, now).TotalSeconds;
            var theirs = elapsed >= 0.2 && r.Got > 0 ? r.Got / elapsed : r.Source.Endpoint.Throughput ?? mine;
            // Past what the running connection may be writing now (one chunk), on a chunk boundary.
            var from = s.Start + s.Filled + 2 * ChunkSize;
            var left = s.End - from;
            if (left < MinSteal || theirs <= 0) continue;
            var eta = left / theirs;
            if (eta < 0.5 || eta <= latest) continue; // not worth a new request
            latest = eta;
            slowest = s;
            cut = from + (long)(left * theirs / (theirs + mine)) / ChunkSize * ChunkSize;
        }
        if (slowest is null || slowest.End - cut < MinSteal) return null;
        var stolen = new Segment(cut, slowest.End) { Running = new Attempt(source, now) };
        slowest.End = cut;
        _segments.Insert(_segments.IndexOf(slowest) + 1, stolen);
        _left++;
        return stolen;
    }

    private async Task FetchAsync(Segment segment, Source source, SpoolSink sink, long total, CancellationToken ct)
    {
        var attempt = segment.Running!;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attempt.Cancel = cancel;
        if (attempt.Stopping) await cancel.CancelAsync(); // stalled itself before it began
        var from = segment.Start + segment.Filled;
        try
        {
            using var response = await Upstream.GetBlobSegmentAsync(_repository.Name, _digest, source.Endpoint, from, segment.End - 1, cancel.Token);
            if (!response.IsPartial)
            {
                Leave(source, $"answered a Range request with the whole blob ({(int)response.Message.StatusCode})");
                Release(segment, attempt, failed: false);
                return;
            }
            var range = response.Message.Content.Headers.ContentRange;
            if (range?.From != from || (range.Length is long length && length != total))
                throw new UpstreamException(UpstreamFailure.Corrupt,
                    $"upstream {Upstream.Name} endpoint {source.Endpoint.Authority} answered bytes {from}-{segment.End - 1} of {_digest} ({total} bytes) with Content-Range '{range}'");
            await using var body = await response.OpenBodyAsync(cancel.Token);
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
            try
            {
                int n;
                while (segment.Start + segment.Filled < segment.End
                       && (n = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(ChunkSize, segment.End - segment.Start - segment.Filled)), cancel.Token)) > 0)
                {
                    await sink.WriteAtAsync(segment.Start + segment.Filled, buffer.AsMemory(0, n), cancel.Token);
                    _received?.Invoke(n);
                    lock (_lock)
                    {
                        segment.Filled += n;
                        attempt.Got += n;
                        attempt.LastProgress = _time.GetTimestamp();
                    }
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            if (segment.Start + segment.Filled < segment.End)
                throw new IOException($"upstream {Upstream.Name} endpoint {source.Endpoint.Authority} ended bytes {from}-{segment.End - 1} of {_digest} after {attempt.Got}");
            Record(source, from, attempt.Got);
            lock (_lock)
            {
                segment.Done = true;
                segment.Running = null;
                source.Failures = 0;
                _left--;
            }
            _metrics.Segment(Upstream.Name, source.Endpoint.Authority, "ok");
            await sink.CompletedAsync(segment.Start, segment.End, ct);
            Signal();
        }
        catch (OperationCanceledException) when (attempt.Stopping && !ct.IsCancellationRequested)
        {
            // Taken over: the bytes so far stay, and the other endpoint goes on after them.
            Record(source, from, attempt.Got);
            _metrics.Segment(Upstream.Name, source.Endpoint.Authority, "taken_over");
            lock (_lock) source.Failures++;
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is UpstreamException or IOException or HttpRequestException or TimeoutException or OperationCanceledException)
        {
            Record(source, from, attempt.Got);
            _metrics.Segment(Upstream.Name, source.Endpoint.Authority, "failed");
            Log.SegmentFailed(_log, _digest.ToString(), segment.Start, source.Endpoint.Authority, e.Message);
            // A mirror without the blob, or refusing it, has nothing more to give for this blob.
            if (e is UpstreamException { Failure: UpstreamFailure.NotFound or UpstreamFailure.Unauthorized or UpstreamFailure.Denied or UpstreamFailure.Corrupt })
                Leave(source, e.Message);
            lock (_lock)
            {
                if (++source.Failures >= FailuresBeforeLeaving) LeaveLocked(source, e.Message);
                if (++segment.Failures > _segmentAttempts) _failure ??= e;
            }
            Release(segment, attempt, failed: true);
        }
        finally
        {
            attempt.Finished.TrySetResult();
        }
    }

    /// <summary>Gives the segment back to whoever takes it next (unless it was taken over meanwhile).</summary>
    private void Release(Segment segment, Attempt attempt, bool failed)
    {
        lock (_lock)
        {
            if (segment.Running == attempt) segment.Running = null;
            if (_failure is null && _sources.All(s => s.Left)) _failure = new UpstreamException(UpstreamFailure.Unavailable,
                $"{Label}: no endpoint could deliver {_digest} ({(failed ? "they failed" : "they left the pool")})");
        }
        Signal();
    }

    private void Leave(Source source, string why)
    {
        lock (_lock) LeaveLocked(source, why);
    }

    private void LeaveLocked(Source source, string why)
    {
        if (source.Left) return;
        source.Left = true;
        Log.Left(_log, _digest.ToString(), source.Endpoint.Authority, why);
    }

    private void Record(Source source, long from, long bytes)
    {
        if (bytes == 0) return;
        lock (_lock) _pieces.Add(new Piece(from, from + bytes, source));
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>An endpoint of the pool, as this download sees it.</summary>
    private sealed class Source(UpstreamEndpoint endpoint)
    {
        public UpstreamEndpoint Endpoint { get; } = endpoint;
        public int Failures { get; set; }
        /// <summary>No more segments for this blob from it.</summary>
        public bool Left { get; set; }
    }

    private sealed class Segment(long start, long end)
    {
        private long _end = end;
        public long Start { get; } = start;
        /// <summary>Moves back when the tail is stolen by another connection.</summary>
        public long End
        {
            get => Volatile.Read(ref _end);
            set => Volatile.Write(ref _end, value);
        }
        /// <summary>Bytes from <see cref="Start"/> already written.</summary>
        public long Filled { get; set; }
        public Attempt? Running { get; set; }
        public bool Done { get; set; }
        public int Failures { get; set; }
    }

    /// <summary>One connection working on a segment.</summary>
    private sealed class Attempt(Source source, long started)
    {
        public Source Source { get; } = source;
        public long Started { get; } = started;
        public long LastProgress { get; set; } = started;
        /// <summary>Bytes this connection wrote so far.</summary>
        public long Got { get; set; }
        /// <summary>Another endpoint takes the segment over: this attempt stops writing.</summary>
        public bool Stopping { get; set; }
        public CancellationTokenSource? Cancel { get; set; }
        public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Stops it and waits until it has written its last byte.</summary>
        public async Task StopAsync()
        {
            try
            {
                if (Cancel is { } cancel) await cancel.CancelAsync();
            }
            catch (ObjectDisposedException)
            {
                // It ended on its own meanwhile.
            }
            await Finished.Task;
        }
    }

    /// <summary>Bytes <see cref="Start"/> to <see cref="End"/> of the blob came from <see cref="Source"/> (another one after a repair).</summary>
    private sealed class Piece(long start, long end, Source source)
    {
        public long Start { get; } = start;
        public long End { get; } = end;
        public Source Source { get; set; } = source;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 340, Level = LogLevel.Information, Message = "pool {Digest}: {Bytes} bytes in {Segments} segments from {Endpoints} endpoints, {Connections} connections each")]
        public static partial void Started(ILogger logger, string digest, long bytes, int segments, int endpoints, int connections);

        [LoggerMessage(EventId = 341, Level = LogLevel.Information, Message = "pool {Digest}: the segment at {Offset} stalled on {Stalled} for {HedgeAfter}; {Endpoint} takes it over")]
        public static partial void TakingOver(ILogger logger, string digest, long offset, string stalled, string endpoint, TimeSpan hedgeAfter);

        [LoggerMessage(EventId = 342, Level = LogLevel.Warning, Message = "pool {Digest}: the segment at {Offset} failed on {Endpoint}: {Reason}")]
        public static partial void SegmentFailed(ILogger logger, string digest, long offset, string endpoint, string reason);

        [LoggerMessage(EventId = 343, Level = LogLevel.Warning, Message = "pool {Digest}: {Endpoint} leaves the pool for this blob: {Reason}")]
        public static partial void Left(ILogger logger, string digest, string endpoint, string reason);

        [LoggerMessage(EventId = 344, Level = LogLevel.Warning, Message = "pool {Digest}: {Endpoint} sent {BadBytes} wrong bytes; they were fetched again from the other endpoints and it is quarantined until {Until:u}")]
        public static partial void Quarantined(ILogger logger, string digest, string endpoint, long badBytes, DateTimeOffset until);

        [LoggerMessage(EventId = 345, Level = LogLevel.Warning, Message = "pool {Digest}: the blob did not match its digest; fetching again what each endpoint sent, from the others")]
        public static partial void Repairing(ILogger logger, string digest);
    }
}

using System.Buffers;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

// The download itself: spool, hash, resume, verify, commit.
public sealed partial class BlobFill
{
    private const int ChunkSize = 64 * 1024;

    private async Task DownloadAsync(IHeldLease? lease, CancellationToken ct)
    {
        // Registry:Upstreams:<host>:MaxConcurrentFills: wait for a slot before the first byte is asked for.
        var slots = Repository.Upstream.FillSlots;
        if (slots is not null)
        {
            context.Metrics.FillQueued(1);
            try
            {
                await slots.WaitAsync(ct);
            }
            finally
            {
                context.Metrics.FillQueued(-1);
            }
        }
        try
        {
            await DownloadInSlotAsync(lease, ct);
        }
        finally
        {
            slots?.Release();
        }
    }

    private async Task DownloadInSlotAsync(IHeldLease? lease, CancellationToken ct)
    {
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
                NotStored = true;
                Log.StreamingWithoutStore(context.Log, Digest.ToString(), e.Message);
            }
            var expected = await CopyWithResumeAsync(writer, ct);
            Verify(expected, $"upstream {Repository.Upstream.Name} endpoint {Endpoint}");
            if (writer is not null) await CommitAsync(writer, lease, ct);
            _state = FillState.Committed;
        }
        finally
        {
            if (writer is not null) await writer.DisposeAsync();
        }
    }

    /// <summary>The fill's spool, made on first use and kept across sources (another replica, then the upstream).</summary>
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

    /// <summary>Copies the upstream body into the spool, resuming from the received offset when the connection drops.</summary>
    /// <returns>The blob size, if the upstream or a manifest gave it.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "Each response is a using declaration; the analyzer loses it across the await in the retry loop.")]
    private async Task<long?> CopyWithResumeAsync(IBlobWriter? writer, CancellationToken ct)
    {
        long? expected = declaredSize;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var backoff = context.Options.ResumeBackoff;
        try
        {
            while (true)
            {
                try
                {
                    using var response = await Repository.Upstream.GetBlobAsync(Repository.Name, Digest, _written, ct);
                    Endpoint = response.Endpoint.Authority;
                    _linked = true;
                    var (from, total) = Extent(response);
                    expected = CheckedSize(expected, total);
                    _started.TrySetResult(expected);
                    await using var body = await response.OpenBodyAsync(ct);
                    // A resumed request answered 200 (Range ignored) repeats bytes we hold: drop them.
                    var skip = _written - from;
                    var limit = expected ?? context.MaxBlobBytes;
                    int n;
                    while ((n = await body.ReadAsync(buffer.AsMemory(0, ChunkSize), ct)) > 0)
                    {
                        var chunk = buffer.AsMemory(0, n);
                        if (skip > 0)
                        {
                            var dropped = (int)Math.Min(skip, n);
                            skip -= dropped;
                            chunk = chunk[dropped..];
                            if (chunk.IsEmpty) continue;
                        }
                        if (_written + chunk.Length > limit)
                            throw Corrupt(expected is null
                                ? $"sent more than {limit} bytes for {Digest}, the most this cache takes for one blob (Registry:MaxBlobSize)"
                                : $"sent more than the {limit} bytes of {Digest}");
                        await AppendAsync(chunk, writer, ct);
                    }
                    if (expected is null || _written >= expected) return expected;
                    throw new IOException($"upstream body ended after {_written} of {expected} bytes");
                }
                catch (Exception e) when (IsResumable(e) && !ct.IsCancellationRequested && Resumes < context.Options.ResumeAttempts
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

    /// <summary>Where the response's bytes start in the blob, and the blob's total size when the response says.</summary>
    private (long From, long? Total) Extent(UpstreamResponse response)
    {
        if (!response.IsPartial) return (0, response.ContentLength);
        var range = response.Message.Content.Headers.ContentRange;
        if (range?.From is not long from || from > _written)
            throw Corrupt($"answered a resume from byte {_written} with Content-Range '{range}'");
        return (from, range.Length);
    }

    /// <summary>The size every source agrees on: the manifest's descriptor, the first response, every resume.</summary>
    private long? CheckedSize(long? known, long? announced)
    {
        if (announced is not long size) return known;
        if (known is long k && k != size)
            throw Corrupt($"announced {size} bytes for {Digest}, but {(k == declaredSize ? "its manifest declares" : "it announced before")} {k}");
        if (size > context.MaxBlobBytes)
            throw Corrupt($"announced {size} bytes for {Digest}, more than this cache takes for one blob ({context.MaxBlobBytes}, Registry:MaxBlobSize)");
        return size;
    }

    private UpstreamException Corrupt(string what) =>
        new(UpstreamFailure.Corrupt, $"upstream {Repository.Upstream.Name} endpoint {Endpoint} {what}; nothing stored");

    // Disk errors surface as StoreUnavailableException (the spool's), never as a dropped upstream connection.
    private static bool IsResumable(Exception e) => e switch
    {
        UpstreamException u => u.Failure is UpstreamFailure.Unavailable or UpstreamFailure.Timeout or UpstreamFailure.BadResponse or UpstreamFailure.RateLimited,
        IOException or HttpRequestException or TimeoutException => true,
        _ => false,
    };
}

using System.Buffers;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

// The download itself: spool, hash, resume, verify, commit.
public sealed partial class BlobFill
{
    private const int ChunkSize = 64 * 1024;

    /// <returns>False when the store answered first that it holds the blob: nothing was downloaded.</returns>
    private async Task<bool> DownloadAsync(IHeldLease? lease, Task<long?>? storeLookup, CancellationToken ct)
    {
        // Registry:Upstreams:<host>:MaxConcurrentFills: wait for a slot before the first byte is asked for.
        var slots = Repository.Upstream.FillSlots;
        if (slots is not null && !await WaitForSlotAsync(slots, ct))
        {
            var wait = Repository.Upstream.FillQueueWait;
            throw new Oci.RegistryError(503, "UNAVAILABLE",
                $"{Repository.Upstream.MaxConcurrentFills} downloads from {Repository.Upstream.Name} are running (Registry:Upstreams:{Repository.Upstream.Name}:MaxConcurrentFills) "
                + $"and this one waited {wait.TotalSeconds:0.#} s for a slot (FillQueueWait); retry shortly")
            { RetryAfterSeconds = Oci.RegistryError.SecondsToRetry(wait) };
        }
        try
        {
            using var reservation = await ReserveQuotaAsync(ct);
            return await DownloadInSlotAsync(lease, storeLookup, reservation, ct);
        }
        finally
        {
            slots?.Release();
        }
    }

    /// <summary>
    /// With a quota (Registry:Upstreams:&lt;host&gt;:Quota) the blob's size is reserved before any
    /// body byte is asked for; a blob that does not fit in what is left is refused (429), whatever
    /// range its client wanted, since a fill takes the whole blob. The size is the manifest's, or a
    /// HEAD's (not a pull for Docker Hub's rate limit).
    /// </summary>
    private async Task<UpstreamQuota.Reservation?> ReserveQuotaAsync(CancellationToken ct)
    {
        if (Repository.Upstream.Quota is not { } quota) return null;
        var size = declaredSize;
        if (size is null)
        {
            try
            {
                using var head = await Repository.Upstream.HeadBlobAsync(Repository.Name, Digest, ct);
                size = head.ContentLength;
            }
            catch (UpstreamException e) when (e.Failure is not UpstreamFailure.QuotaSpent)
            {
                // No size from a HEAD: the GET that follows says what is wrong, or counts as it goes.
            }
        }
        if (size is not long total) return null; // nothing to reserve against: the download counts as it goes
        var need = Math.Max(0, total - _written);
        return quota.TryReserve(need) ?? throw Repository.Upstream.QuotaRefusal(quota,
            $"has {Common.ByteSize.Format(Math.Max(0, quota.Remaining))} left, and {Digest} needs {Common.ByteSize.Format(need)}");
    }

    /// <summary>Waits up to FillQueueWait for a slot; a queued fill counts as queued, not as running.</summary>
    private async Task<bool> WaitForSlotAsync(SemaphoreSlim slots, CancellationToken ct)
    {
        if (slots.Wait(0, CancellationToken.None)) return true;
        context.Metrics.FillQueued(1);
        try
        {
            return await slots.WaitAsync(Repository.Upstream.FillQueueWait, ct);
        }
        finally
        {
            context.Metrics.FillQueued(-1);
        }
    }

    private async Task<bool> DownloadInSlotAsync(IHeldLease? lease, Task<long?>? storeLookup, UpstreamQuota.Reservation? reservation, CancellationToken ct)
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
            var (inStore, expected) = await CopyWithResumeAsync(writer, storeLookup, reservation, ct);
            if (inStore) return false;
            Verify(expected, $"upstream {Repository.Upstream.Name} endpoint {Endpoint}");
            if (writer is not null) await CommitAsync(writer, lease, ct);
            _state = FillState.Committed;
            return true;
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
    /// <returns>The blob size, if the upstream or a manifest gave it; or InStore when the store answered first that it holds the blob.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "Each response is a using declaration; the analyzer loses it across the await in the retry loop.")]
    private async Task<(bool InStore, long? Expected)> CopyWithResumeAsync(IBlobWriter? writer, Task<long?>? storeLookup, UpstreamQuota.Reservation? reservation, CancellationToken ct)
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
                    var lookup = storeLookup;
                    storeLookup = null; // the first request only
                    using var response = lookup is null
                        ? await Repository.Upstream.GetBlobAsync(Repository.Name, Digest, _written, ct)
                        : await UpstreamUnlessStoredAsync(lookup, ct);
                    if (response is null) return (true, null);
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
                        reservation?.Received(n);
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
                    if (expected is null || _written >= expected) return (false, expected);
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

    /// <summary>
    /// The upstream's response, or null when the store answers first that it holds the blob (the
    /// index, asked instead of the store, had lost its record). An upstream that fails or hangs
    /// does not keep a stored blob from its readers: the store's answer decides.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The response goes to the caller, or is disposed here or once the cancelled request ends.")]
    private async Task<UpstreamResponse?> UpstreamUnlessStoredAsync(Task<long?> storeLookup, CancellationToken ct)
    {
        if (storeLookup.IsCompleted)
            return await HoldsAsync(storeLookup) ? null : await Repository.Upstream.GetBlobAsync(Repository.Name, Digest, _written, ct);
        using var race = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var get = Repository.Upstream.GetBlobAsync(Repository.Name, Digest, _written, race.Token);
        if (await Task.WhenAny(get, storeLookup) == storeLookup && await HoldsAsync(storeLookup))
        {
            await race.CancelAsync();
            DisposeWhenDone(get);
            return null;
        }
        UpstreamResponse response;
        try
        {
            response = await get;
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            if (await HoldsAsync(storeLookup)) return null;
            throw;
        }
        if (storeLookup.IsCompleted && await HoldsAsync(storeLookup))
        {
            response.Dispose();
            return null;
        }
        return response;
    }

    private static async Task<bool> HoldsAsync(Task<long?> storeLookup)
    {
        try
        {
            return await storeLookup is not null;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Disposes what a task left behind that nobody waits for any more (and observes its failure).</summary>
    private static void DisposeWhenDone<T>(Task<T> task) where T : IDisposable? =>
        _ = task.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) t.Result?.Dispose();
            else _ = t.Exception;
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

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

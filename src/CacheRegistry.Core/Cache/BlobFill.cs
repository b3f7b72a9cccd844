using System.Buffers;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

public enum FillState { Running, Committed, Failed }

/// <summary>What a fill needs from its surroundings.</summary>
public sealed record FillContext(IBlobStore Store, IMetadataStore Metadata, IBlobIndex Index, IFillLease Lease, FillOptions Options,
    SpoolDirectory Spools, TimeProvider Time, ILogger Log);

/// <summary>
/// One upstream download of one blob, owned by the cache rather than by a request: it writes into
/// its spool (which its readers follow and the store takes in), hashes as bytes land, resumes with Range when the
/// upstream connection drops, and commits only when size and digest match. Any number of readers
/// follow it from any offset at the upstream's pace. With the blob store down it still streams
/// (and verifies) to its readers, without storing.
/// </summary>
public sealed partial class BlobFill(RepositoryRef repository, Digest digest, FillContext context)
{
    private const int ChunkSize = 64 * 1024;
    private readonly TaskCompletionSource<long?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _written;
    private volatile FillState _state;
    private string? _spoolPath;

    public RepositoryRef Repository { get; } = repository;
    public Digest Digest { get; } = digest;
    public ProgressSignal Progress { get; } = new();
    public FillState State => _state;
    public long Written => Interlocked.Read(ref _written);
    public Exception? Failure { get; private set; }
    /// <summary>The upstream endpoint that serves the bytes.</summary>
    public string? Endpoint { get; private set; }
    /// <summary>True when the blob came through but could not be stored (blob store down).</summary>
    public bool NotStored { get; private set; }
    /// <summary>Times the upstream connection was resumed.</summary>
    public int Resumes { get; private set; }
    /// <summary>Completes with the blob size (null if the upstream gave none) once bytes are on their way.</summary>
    public Task<long?> Started => _started.Task;

    internal async Task RunAsync(CancellationToken ct)
    {
        try
        {
            var waitUntil = context.Time.GetUtcNow() + context.Options.LeaseWait;
            while (true)
            {
                if (await context.Store.TryGetSizeAsync(Digest, ct) is long stored)
                {
                    // Committed by a fill that just ended here or on another replica.
                    _written = stored;
                    _state = FillState.Committed;
                    _started.TrySetResult(stored);
                    return;
                }
                await using var lease = await AcquireLeaseAsync(ct);
                if (lease is not null || context.Time.GetUtcNow() > waitUntil)
                {
                    await DownloadAsync(ct);
                    return;
                }
                await Task.Delay(context.Options.LeasePoll, ct); // another replica is downloading it
            }
        }
        catch (Exception e)
        {
            Failure = e;
            _state = FillState.Failed;
            _started.TrySetException(AsRegistryError(e));
            throw;
        }
        finally
        {
            _finished.TrySetResult();
            Progress.Pulse();
        }
    }

    private async Task<IAsyncDisposable?> AcquireLeaseAsync(CancellationToken ct)
    {
        try
        {
            return await context.Lease.TryAcquireAsync(Digest, ct);
        }
        catch (StoreUnavailableException e)
        {
            // Without the coordinator, a duplicate download beats no download.
            Log.LeaseUnavailable(context.Log, Digest.ToString(), e.Message);
            return LocalFillLease.Granted;
        }
    }

    private async Task DownloadAsync(CancellationToken ct)
    {
        await using var spool = context.Spools.Create(Digest);
        _spoolPath = spool.Path;
        IBlobWriter? writer = null;
        try
        {
            writer = await context.Store.BeginWriteAsync(Digest, spool, ct);
        }
        catch (StoreUnavailableException e)
        {
            NotStored = true;
            Log.StreamingWithoutStore(context.Log, Digest.ToString(), e.Message);
        }
        await using var _ = writer;

        using var hasher = Digest.CreateHasher();
        var expected = await CopyWithResumeAsync(spool, writer, hasher, ct);
        var where = $"upstream {Repository.Upstream.Name} endpoint {Endpoint}";
        if (expected is long size && _written != size)
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{where} ended {Digest} after {_written} of {size} bytes");
        if (!Digest.Matches(hasher.GetHashAndReset()))
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{where} sent bytes that do not hash to {Digest}; discarded");
        if (writer is not null) await CommitAsync(writer, ct);
        _state = FillState.Committed;
    }

    private async Task CommitAsync(IBlobWriter writer, CancellationToken ct)
    {
        try
        {
            await writer.CommitAsync(ct);
        }
        catch (StoreUnavailableException e)
        {
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

    /// <summary>Copies the upstream body into the writer and spool, resuming from the received offset when the connection drops.</summary>
    /// <returns>The size the upstream announced, if it did.</returns>
    private async Task<long?> CopyWithResumeAsync(Spool spool, IBlobWriter? writer, System.Security.Cryptography.IncrementalHash hasher, CancellationToken ct)
    {
        long? expected = null;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var backoff = context.Options.ResumeBackoff;
        try
        {
            while (true)
            {
                UpstreamResponse? response = null;
                try
                {
                    response = await Repository.Upstream.GetBlobAsync(Repository.Name, Digest, _written, ct);
                    Endpoint = response.Endpoint.Authority;
                    expected ??= response.ContentLength;
                    _started.TrySetResult(expected);
                    await using var body = await response.OpenBodyAsync(ct);
                    // A resumed request answered 200 (Range ignored) repeats bytes we hold: drop them.
                    var skip = _written > 0 && !response.IsPartial ? _written : 0;
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
                        if (expected is long max && _written + chunk.Length > max)
                            throw new UpstreamException(UpstreamFailure.Corrupt, $"upstream {Repository.Upstream.Name} endpoint {Endpoint} sent more than the {max} bytes it announced for {Digest}");
                        hasher.AppendData(chunk.Span);
                        await spool.AppendAsync(chunk, ct);
                        if (writer is not null) await writer.SpoolGrewAsync(ct);
                        Interlocked.Add(ref _written, chunk.Length);
                        Progress.Pulse();
                    }
                    if (expected is null || _written >= expected) return expected;
                    throw new IOException($"upstream body ended after {_written} of {expected} bytes");
                }
                catch (Exception e) when (IsResumable(e) && !ct.IsCancellationRequested && Resumes < context.Options.ResumeAttempts
                                          && (_written > 0 || e is not UpstreamException))
                {
                    Resumes++;
                    Log.Resuming(context.Log, Digest.ToString(), _written, Resumes, context.Options.ResumeAttempts, e.Message);
                    await Task.Delay(backoff, ct);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                }
                finally
                {
                    response?.Dispose();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsResumable(Exception e) => e switch
    {
        UpstreamException u => u.Failure is UpstreamFailure.Unavailable or UpstreamFailure.Timeout or UpstreamFailure.BadResponse or UpstreamFailure.RateLimited,
        IOException or HttpRequestException or TimeoutException => true,
        _ => false,
    };

    /// <summary>A stream of the blob from <paramref name="offset"/>: from the spool while it grows, from the store once committed.</summary>
    public async Task<Stream> OpenReaderAsync(long offset, CancellationToken ct)
    {
        if (_state == FillState.Committed && !NotStored) return await OpenCommittedAsync(offset, ct);
        try
        {
            var handle = File.OpenHandle(_spoolPath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
            return new FillReader(this, handle, offset);
        }
        catch (FileNotFoundException)
        {
            // The spool was renamed into place (commit) or removed (failure) between the state check
            // and the open: the fill's outcome is moments away.
            await _finished.Task.WaitAsync(ct);
            if (_state == FillState.Committed && !NotStored) return await OpenCommittedAsync(offset, ct);
            throw Failure is null ? new IOException($"blob {Digest} is no longer available") : AsRegistryError(Failure);
        }
    }

    private async Task<Stream> OpenCommittedAsync(long offset, CancellationToken ct) =>
        await context.Store.OpenReadAsync(Digest, offset, null, ct)
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
    }
}

using System.Diagnostics;
using CacheRegistry.Telemetry;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>
/// A blob ready to be streamed: its size (null if unknown), and how to read <c>length</c> bytes
/// (to the end when null) from an offset. Disposing lets go of what it holds (a fill's spool, an
/// upstream response).
/// </summary>
public sealed class BlobSource(long? size, CacheOutcome outcome, string? endpoint, Func<long, long?, CancellationToken, Task<Stream>> open,
    Action? release = null) : IDisposable
{
    public long? Size { get; } = size;
    public CacheOutcome Outcome { get; } = outcome;
    public string? Endpoint { get; } = endpoint;
    /// <summary>Where to send the client instead of streaming (presigned storage URL), when the store offers one.</summary>
    public string? RedirectUrl { get; init; }

    public Task<Stream> OpenAsync(long offset, long? length, CancellationToken ct) => open(offset, length, ct);

    public void Dispose() => release?.Invoke();
}

/// <summary>
/// Serves blobs: from the store when committed, otherwise by joining or starting a fill, or
/// straight from the upstream (verified) when the local disk cannot spool. A blob is served for a
/// repository only when that repository is linked to it (a manifest of it references it, or the
/// upstream confirmed it).
/// </summary>
public sealed partial class BlobCache(IBlobStore store, IMetadataStore metadata, IBlobIndex index, RunningFills fills, SpoolDirectory spools, HotCache hot,
    AccessTracker accesses, NegativeCache missing, RegistryOptions options, ILogger<BlobCache>? log = null, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _log = log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger<BlobCache>.Instance;

    // Requests that arrive together for one blob ask the store once (an S3 HEAD is not free).
    private readonly Common.SingleFlight<Digest, long?> _sizes = new();

    public Task<BlobSource> OpenAsync(RepositoryRef repo, Digest digest, CancellationToken ct) =>
        missing.RememberingAsync(repo, digest.ToString(), () => OpenOrFillAsync(repo, digest, ct));

    /// <summary>Size for HEAD: from the store, a running fill, or an upstream HEAD (nothing is downloaded).</summary>
    public Task<(long? Size, CacheOutcome Outcome)> StatAsync(RepositoryRef repo, Digest digest, CancellationToken ct) =>
        missing.RememberingAsync(repo, digest.ToString(), () => StatOrAskAsync(repo, digest, ct));

    private async Task<BlobSource> OpenOrFillAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        var declared = hot.GetDeclaredSize(digest);
        // A blob being filled here is not in the store yet: join the fill without asking.
        var lookup = fills.Find(digest) is null ? StoredSizeAsync(digest, declared) : null;
        if (lookup is not null && await KnownStoredSizeAsync(digest, lookup, ct) is long size)
        {
            var endpoint = await EnsureLinkedAsync(repo, digest, ct);
            accesses.Touch(digest);
            return new BlobSource(size, CacheOutcome.Hit, endpoint, (offset, length, c) => OpenStoredOrUpstreamAsync(repo, digest, size, offset, length, c))
            {
                RedirectUrl = (store as IBlobRedirector)?.RedirectUrl(digest),
            };
        }
        await missing.ThrowIfMissingAsync(repo, digest.ToString(), "BLOB_UNKNOWN", ct);
        if (spools.IsDown) return await PassThroughAsync(repo, digest, ct);
        var (fill, started) = fills.GetOrStart(repo, digest, declared, lookup);
        try
        {
            if (!started)
            {
                Activity.Current?.SetTag("cacheregistry.fill.joined", fill.SpanId);
                if (fill.Repository.Key != repo.Key) await EnsureLinkedAsync(repo, digest, ct);
            }
            var total = await fill.Started.WaitAsync(ct);
            return new BlobSource(total, started ? CacheOutcome.Miss : CacheOutcome.Joined, fill.Endpoint,
                (offset, length, _) => Task.FromResult<Stream>(new FillReader(fill, offset, offset + length, (position, check, c) => PassThroughStreamAsync(repo, digest, total, position, offset + length, check, c))),
                fill.Release);
        }
        catch (RegistryError) when (fill.SpoolFailed)
        {
            fill.Release();
            return await PassThroughAsync(repo, digest, ct);
        }
        catch
        {
            fill.Release();
            throw;
        }
    }

    /// <summary>
    /// For another replica (Registry:Cluster): this replica's running fill of the digest, or its
    /// stored copy, from <paramref name="from"/>; null when it has neither. Never starts a fill. The
    /// size is the fill's once its upstream answered within <paramref name="sizeWait"/>.
    /// </summary>
    public async Task<(long? Size, Stream Body)?> OpenForReplicaAsync(Digest digest, long from, TimeSpan sizeWait, CancellationToken ct)
    {
        if (fills.Find(digest) is { } fill && fill.TryHold())
        {
            try
            {
                await Task.WhenAny(fill.Started, Task.Delay(sizeWait, _time, ct));
                if (!fill.Started.IsFaulted)
                {
                    long? size = fill.Started.IsCompletedSuccessfully ? await fill.Started : null;
                    return (size, new FillReader(fill, from, null,
                        (_, _, _) => throw new IOException($"this replica's disk failed while filling {digest}; the blob is not here to follow")));
                }
            }
            finally
            {
                fill.Release();
            }
        }
        if (await store.TryGetSizeAsync(digest, null, ct) is long stored && from <= stored)
            return (stored, await OpenStoredAsync(digest, from, null, ct));
        return null;
    }

    /// <summary>The store's answer, shared by the requests that ask together (and by the fill they start), whoever hangs up.</summary>
    private Task<long?> StoredSizeAsync(Digest digest, long? declared) =>
        _sizes.RunAsync(digest, () => store.TryGetSizeAsync(digest, declared, CancellationToken.None), CancellationToken.None);

    /// <summary>
    /// The stored size, or null to start (or join) a fill. In a cluster a cold blob does not wait for
    /// the blob store (an S3 HEAD, the slowest step before its first byte) when the index (Redis) has
    /// no record of it: the fill's lease holder takes the store's answer while its upstream answers,
    /// so a blob whose record was lost is still read from the store, not downloaded again.
    /// </summary>
    private async Task<long?> KnownStoredSizeAsync(Digest digest, Task<long?> lookup, CancellationToken ct)
    {
        if (options.Cluster.StreamsFromPeers && !await index.MayRecordAsync(digest, ct)) return null;
        return await lookup.WaitAsync(ct);
    }

    private async Task<(long? Size, CacheOutcome Outcome)> StatOrAskAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        if (await StoredSizeAsync(digest, hot.GetDeclaredSize(digest)).WaitAsync(ct) is long size)
        {
            await EnsureLinkedAsync(repo, digest, ct);
            return (size, CacheOutcome.Hit);
        }
        if (fills.Find(digest) is { } fill && fill.Repository.Key == repo.Key)
            return (await fill.Started.WaitAsync(ct), CacheOutcome.Joined);
        await missing.ThrowIfMissingAsync(repo, digest.ToString(), "BLOB_UNKNOWN", ct);
        using var head = await BlobLinks.HeadUpstreamAsync(repo, digest, ct);
        return (head.ContentLength, CacheOutcome.PassThrough);
    }

    /// <summary>
    /// A hit's bytes from the store; when the store said it had them and no longer does at read time
    /// (another replica's size limit evicted them meanwhile), or fails before the first byte, they
    /// come from the upstream, verified: a served manifest's blob is never a 404 or 503 while the
    /// upstream has it. The next request finds it missing and fills it again.
    /// </summary>
    private async Task<Stream> OpenStoredOrUpstreamAsync(RepositoryRef repo, Digest digest, long size, long offset, long? length, CancellationToken ct)
    {
        try
        {
            if (await TryOpenStoredAsync(digest, offset, length, ct) is { } stored) return stored;
            Log.GoneFromStore(_log, digest.ToString(), repo.Upstream.Name);
        }
        catch (StoreUnavailableException e)
        {
            Log.StoreFailedBeforeFirstByte(_log, digest.ToString(), e.Message, repo.Upstream.Name);
        }
        return await PassThroughStreamAsync(repo, digest, size, offset, length is long n ? offset + n : null, null, ct);
    }

    private async Task<Stream> OpenStoredAsync(Digest digest, long offset, long? length, CancellationToken ct) =>
        await TryOpenStoredAsync(digest, offset, length, ct) ?? throw RegistryError.BlobUnknown($"blob {digest} left the cache while being opened");

    private async Task<Stream?> TryOpenStoredAsync(Digest digest, long offset, long? length, CancellationToken ct)
    {
        using var span = Tracing.Source.StartActivity("store read");
        span?.SetTag("cacheregistry.digest", digest.ToString()).SetTag("cacheregistry.offset", offset);
        return await store.OpenReadAsync(digest, offset, length, ct);
    }

    /// <summary>The blob straight from the upstream to this one client, verified on the way and stored nowhere.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The response belongs to the BlobSource, which disposes it.")]
    private async Task<BlobSource> PassThroughAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        var response = await GetUpstreamAsync(repo, digest, ct);
        var size = KnownSize(response, digest);
        return new BlobSource(size, CacheOutcome.PassThrough, response.Endpoint.Authority,
            async (offset, length, c) => new VerifiedUpstreamStream(response, await response.OpenBodyAsync(c), digest, size, offset, offset + (length ?? size - offset)),
            response.Dispose);
    }

    /// <summary>For a fill's reader whose local disk failed: the blob from the upstream again, from <paramref name="position"/>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The response and its body belong to the returned stream, which disposes them.")]
    private async Task<Stream> PassThroughStreamAsync(RepositoryRef repo, Digest digest, long? total, long position, long? end,
        Func<long, ReadOnlyMemory<byte>, ValueTask>? checkSent, CancellationToken ct)
    {
        var response = await GetUpstreamAsync(repo, digest, ct);
        try
        {
            var size = KnownSize(response, digest);
            if (total is long t && t != size)
                throw new RegistryError(502, "UNAVAILABLE", $"upstream endpoint {response.Endpoint.Authority} announced {size} bytes for {digest} after {t}");
            return new VerifiedUpstreamStream(response, await response.OpenBodyAsync(ct), digest, size, position, end ?? size, checkSent);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private long KnownSize(UpstreamResponse response, Digest digest)
    {
        var declared = hot.GetDeclaredSize(digest);
        var size = response.ContentLength ?? declared
            ?? throw new RegistryError(502, "UNAVAILABLE", $"upstream endpoint {response.Endpoint.Authority} gave no size for {digest}, and the local disk cannot spool it; retry when the disk is back");
        if ((declared is long d && d != size) || size > options.MaxBlobBytes)
        {
            response.Dispose();
            throw new RegistryError(502, "UNAVAILABLE", $"upstream endpoint {response.Endpoint.Authority} announced {size} bytes for {digest}, which its manifest or Registry:MaxBlobSize does not allow");
        }
        return size;
    }

    private Task<string?> EnsureLinkedAsync(RepositoryRef repo, Digest digest, CancellationToken ct) => BlobLinks.EnsureAsync(metadata, repo, digest, ct);

    private static async Task<UpstreamResponse> GetUpstreamAsync(RepositoryRef repo, Digest digest, CancellationToken ct)
    {
        try
        {
            return await repo.Upstream.GetBlobAsync(repo.Name, digest, 0, ct);
        }
        catch (UpstreamException e)
        {
            throw e.ToRegistryError("BLOB_UNKNOWN");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 240, Level = LogLevel.Warning,
            Message = "blob {Digest} was in the store and is gone at read time (evicted by another replica?): served from upstream {Upstream}, verified")]
        public static partial void GoneFromStore(ILogger logger, string digest, string upstream);

        [LoggerMessage(EventId = 241, Level = LogLevel.Warning,
            Message = "blob {Digest}: the store failed before the first byte ({Reason}): served from upstream {Upstream}, verified")]
        public static partial void StoreFailedBeforeFirstByte(ILogger logger, string digest, string reason, string upstream);
    }
}

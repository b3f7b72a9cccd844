using System.Buffers;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

public enum FillState { Running, Committed, Failed }

/// <summary>
/// One upstream download of one blob, owned by the cache rather than by a request: it writes into
/// the store's writer (and a readable spool), hashes as bytes land, and commits only when size and
/// digest match. Any number of readers follow it from any offset at the upstream's pace.
/// </summary>
public sealed class BlobFill(RepositoryRef repository, Digest digest, IBlobStore store, IMetadataStore metadata, string spoolDir)
{
    private const int ChunkSize = 64 * 1024;
    private readonly TaskCompletionSource<long?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
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
    /// <summary>Completes with the blob size (null if the upstream gave none) once bytes are on their way.</summary>
    public Task<long?> Started => _started.Task;

    internal async Task RunAsync(CancellationToken ct)
    {
        try
        {
            if (await store.GetSizeAsync(Digest, ct) is long stored)
            {
                // Committed by a fill that just ended: nothing to fetch.
                _written = stored;
                _state = FillState.Committed;
                _started.TrySetResult(stored);
                return;
            }
            await DownloadAsync(ct);
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
            Progress.Pulse();
        }
    }

    private async Task DownloadAsync(CancellationToken ct)
    {
        using var response = await Repository.Upstream.SendAsync(HttpMethod.Get, Repository.Name, "blobs/" + Digest, null, ct);
        Endpoint = response.Endpoint.Authority;
        var where = $"upstream {Repository.Upstream.Name} endpoint {Endpoint}";
        var expected = response.ContentLength;
        await using var writer = await store.BeginWriteAsync(Digest, ct);
        await using var ownSpool = writer.LocalPath is null ? OpenOwnSpool() : null;
        _spoolPath = writer.LocalPath ?? ownSpool!.Name;
        _started.TrySetResult(expected);

        using var hasher = Digest.CreateHasher();
        await using var body = await response.OpenBodyAsync(ct);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int n;
            while ((n = await body.ReadAsync(buffer.AsMemory(0, ChunkSize), ct)) > 0)
            {
                if (expected is long max && _written + n > max)
                    throw new UpstreamException(UpstreamFailure.Corrupt, $"{where} sent more than the {max} bytes it announced for {Digest}");
                var chunk = buffer.AsMemory(0, n);
                hasher.AppendData(chunk.Span);
                await writer.WriteAsync(chunk, ct);
                if (ownSpool is not null) await ownSpool.WriteAsync(chunk, ct);
                Interlocked.Add(ref _written, n);
                Progress.Pulse();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (expected is long size && _written != size)
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{where} ended {Digest} after {_written} of {size} bytes");
        if (!Digest.Matches(hasher.GetHashAndReset()))
            throw new UpstreamException(UpstreamFailure.Corrupt, $"{where} sent bytes that do not hash to {Digest}; discarded");
        await writer.CommitAsync(ct);
        await metadata.LinkAsync(Repository.Key, [Digest], CancellationToken.None);
        _state = FillState.Committed;
    }

    private FileStream OpenOwnSpool()
    {
        Directory.CreateDirectory(spoolDir);
        var path = Path.Combine(spoolDir, $"{Digest.Hex}.{Guid.NewGuid():N}.spool");
        return new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete,
            Options = FileOptions.DeleteOnClose | FileOptions.Asynchronous, BufferSize = 0,
        });
    }

    /// <summary>A stream of the blob from <paramref name="offset"/>: from the spool while it grows, from the store once committed.</summary>
    public async Task<Stream> OpenReaderAsync(long offset, CancellationToken ct)
    {
        if (_state == FillState.Committed) return await OpenCommittedAsync(offset, ct);
        try
        {
            var handle = File.OpenHandle(_spoolPath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
            return new FillReader(this, handle, offset);
        }
        catch (FileNotFoundException) when (_state == FillState.Committed)
        {
            return await OpenCommittedAsync(offset, ct); // renamed into place between the check and the open
        }
    }

    private async Task<Stream> OpenCommittedAsync(long offset, CancellationToken ct) =>
        await store.OpenReadAsync(Digest, offset, null, ct)
        ?? throw new IOException($"blob {Digest} was committed but is no longer in storage");

    internal static RegistryError AsRegistryError(Exception e) => e switch
    {
        RegistryError r => r,
        UpstreamException u => u.ToRegistryError("BLOB_UNKNOWN"),
        OperationCanceledException => new RegistryError(503, "UNAVAILABLE", "the blob fill was cancelled (timeout or shutdown)"),
        _ => new RegistryError(500, "UNKNOWN", $"storing the blob failed: {e.Message}"),
    };
}

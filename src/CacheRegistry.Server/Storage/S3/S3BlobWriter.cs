using Amazon.S3;
using Amazon.S3.Model;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.S3;

/// <summary>
/// Uploads a blob to S3 part by part from its spool as the spool grows, so memory stays flat
/// whatever the blob size, and a slow or hung S3 never slows the fill: parts that cannot start
/// yet wait in the spool. Small blobs go up with one PUT at commit. Nothing is visible in the
/// bucket before <see cref="CommitAsync"/>.
/// </summary>
internal sealed partial class S3BlobWriter(IAmazonS3 s3, S3Options options, string key, Spool spool, StoreCircuit circuit, ILogger log, TimeProvider time) : IBlobWriter
{
    private const int MaxPartsInFlight = 2;
    private readonly Queue<Task<PartETag>> _inFlight = new();
    private readonly List<PartETag> _parts = [];
    private Task<string>? _uploadId;
    private int _partNumber;
    private long _uploaded;
    private bool _committed;
    // An S3 failure stops the upload but not the spool: the fill's readers still get every byte,
    // and the failure surfaces at commit, so the blob is served verified but not stored.
    private StoreUnavailableException? _failure;

    public ValueTask SpoolGrewAsync(CancellationToken ct)
    {
        CollectFinishedParts();
        while (_failure is null && _inFlight.Count < MaxPartsInFlight && spool.Length - _uploaded >= options.PartSizeBytes)
            StartPart(options.PartSizeBytes, ct);
        return ValueTask.CompletedTask;
    }

    private void CollectFinishedParts()
    {
        while (_inFlight.TryPeek(out var head) && head.IsCompleted)
        {
            _inFlight.Dequeue();
            if (head.IsCompletedSuccessfully) _parts.Add(head.Result);
            else _failure ??= head.Exception?.InnerException as StoreUnavailableException
                ?? new StoreUnavailableException(circuit.Name, head.Exception?.InnerException?.Message ?? "part upload cancelled");
        }
    }

    private void StartPart(long size, CancellationToken ct)
    {
        _uploadId ??= Guard(async c => (await s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = options.Bucket, Key = key }, c)).UploadId, ct);
        var request = new UploadPartRequest
        {
            BucketName = options.Bucket, Key = key, PartNumber = ++_partNumber,
            FilePath = spool.Path, FilePosition = _uploaded, PartSize = size,
            UseChunkEncoding = false,
        };
        _uploaded += size;
        _inFlight.Enqueue(UploadAsync(request, _uploadId, ct));
    }

    private async Task<PartETag> UploadAsync(UploadPartRequest request, Task<string> uploadId, CancellationToken ct)
    {
        request.UploadId = await uploadId;
        var response = await Guard(c => s3.UploadPartAsync(request, c), ct);
        return new PartETag(request.PartNumber ?? 0, response.ETag);
    }

    // Part and object uploads move data, so they get the S3 request timeout rather than the store deadline.
    private Task<T> Guard<T>(Func<CancellationToken, Task<T>> call, CancellationToken ct) => circuit.RunAsync(call, ct, options.RequestTimeout);

    public async Task CommitAsync(CancellationToken ct)
    {
        if (_failure is not null) throw _failure;
        if (_uploadId is null)
        {
            await Guard(c => s3.PutObjectAsync(new PutObjectRequest { BucketName = options.Bucket, Key = key, FilePath = spool.Path, UseChunkEncoding = false }, c), ct);
        }
        else
        {
            while (spool.Length > _uploaded)
            {
                if (_inFlight.Count >= MaxPartsInFlight) _parts.Add(await _inFlight.Dequeue());
                StartPart(Math.Min(options.PartSizeBytes, spool.Length - _uploaded), ct);
            }
            while (_inFlight.Count > 0) _parts.Add(await _inFlight.Dequeue());
            var uploadId = await _uploadId;
            await Guard(c => s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = options.Bucket, Key = key, UploadId = uploadId,
                PartETags = _parts.OrderBy(p => p.PartNumber).ToList(),
            }, c), ct);
        }
        _committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_committed || _uploadId is null) return;
        try
        {
            while (_inFlight.Count > 0) await _inFlight.Dequeue().ContinueWith(_ => { }, TaskScheduler.Default);
            var uploadId = await _uploadId;
            using var cts = new CancellationTokenSource(options.RequestTimeout, time);
            await s3.AbortMultipartUploadAsync(options.Bucket, key, uploadId, cts.Token);
        }
        #pragma warning disable CA1031 // aborting is best effort; the stale-upload sweep finishes it
        catch (Exception e)
        {
            // Left for the stale-upload sweep.
            Log.AbortFailed(log, key, e.Message);
        }
        #pragma warning restore CA1031
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "s3: could not abort the upload of {Key}: {Reason}")]
        public static partial void AbortFailed(ILogger logger, string key, string reason);
    }
}

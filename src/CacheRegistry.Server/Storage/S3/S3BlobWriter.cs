using Amazon.S3;
using Amazon.S3.Model;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.S3;

/// <summary>
/// Uploads a blob to S3 part by part from its spool as the spool grows, so memory stays flat
/// whatever the blob size. Small blobs go up with one PUT at commit. Nothing is visible in the
/// bucket before <see cref="CommitAsync"/>.
/// </summary>
internal sealed class S3BlobWriter(IAmazonS3 s3, S3Options options, string key, Spool spool, ILogger log) : IBlobWriter
{
    private const int MaxPartsInFlight = 2;
    private readonly Queue<Task<PartETag>> _inFlight = new();
    private readonly List<PartETag> _parts = [];
    private string? _uploadId;
    private long _uploaded;
    private bool _committed;
    // An S3 failure stops the upload but not the spool: the fill's readers still get every byte,
    // and the failure surfaces at commit, so the blob is served verified but not stored.
    private StoreUnavailableException? _failure;

    public async ValueTask SpoolGrewAsync(CancellationToken ct)
    {
        try
        {
            while (_failure is null && spool.Length - _uploaded >= options.PartSizeBytes)
                await StartPartAsync(options.PartSizeBytes, ct);
        }
        catch (StoreUnavailableException e)
        {
            _failure = e;
        }
    }

    private async Task StartPartAsync(long size, CancellationToken ct)
    {
        _uploadId ??= (await Guard(() => s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = options.Bucket, Key = key }, ct))).UploadId;
        var request = new UploadPartRequest
        {
            BucketName = options.Bucket, Key = key, UploadId = _uploadId,
            PartNumber = _parts.Count + _inFlight.Count + 1,
            FilePath = spool.Path, FilePosition = _uploaded, PartSize = size,
            UseChunkEncoding = false,
        };
        _uploaded += size;
        _inFlight.Enqueue(UploadAsync(request, ct));
        while (_inFlight.Count >= MaxPartsInFlight) _parts.Add(await _inFlight.Dequeue());
    }

    private async Task<PartETag> UploadAsync(UploadPartRequest request, CancellationToken ct)
    {
        var response = await Guard(() => s3.UploadPartAsync(request, ct));
        return new PartETag(request.PartNumber ?? 0, response.ETag);
    }

    private async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is Amazon.Runtime.AmazonServiceException or HttpRequestException or IOException)
        {
            throw new StoreUnavailableException($"blob storage (s3 {options.ServiceUrl ?? "aws"}, bucket {options.Bucket})", e.Message, e);
        }
    }

    public async Task CommitAsync(CancellationToken ct)
    {
        if (_failure is not null) throw _failure;
        if (_uploadId is null)
        {
            await Guard(() => s3.PutObjectAsync(new PutObjectRequest { BucketName = options.Bucket, Key = key, FilePath = spool.Path, UseChunkEncoding = false }, ct));
        }
        else
        {
            if (spool.Length > _uploaded) await StartPartAsync(spool.Length - _uploaded, ct);
            while (_inFlight.Count > 0) _parts.Add(await _inFlight.Dequeue());
            await Guard(() => s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = options.Bucket, Key = key, UploadId = _uploadId,
                PartETags = _parts.OrderBy(p => p.PartNumber).ToList(),
            }, ct));
        }
        _committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_committed || _uploadId is null) return;
        try
        {
            while (_inFlight.Count > 0) await _inFlight.Dequeue().ContinueWith(_ => { }, TaskScheduler.Default);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await s3.AbortMultipartUploadAsync(options.Bucket, key, _uploadId, cts.Token);
        }
        catch (Exception e)
        {
            // Left for the stale-upload sweep.
            log.LogWarning("s3: could not abort upload {UploadId} of {Key}: {Reason}", _uploadId, key, e.Message);
        }
    }
}

namespace CacheRegistry.Server.Storage.S3;

/// <summary><c>Registry:Storage:S3</c>: the bucket, credentials and upload settings of the S3 blob store.</summary>
internal sealed class S3Options
{
    /// <summary>Endpoint of an S3-compatible service (MinIO, Ceph RGW, OSS, COS…); empty for AWS.</summary>
    public string? ServiceUrl { get; set; }
    public string Region { get; set; } = "us-east-1";
    public string Bucket { get; set; } = "";
    /// <summary>Key prefix, so one bucket can hold several caches.</summary>
    public string Prefix { get; set; } = "";
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
    /// <summary>Path-style addressing (bucket in the path), which most self-hosted services need.</summary>
    public bool ForcePathStyle { get; set; } = true;
    /// <summary>Multipart part size; at most two parts upload at once, read from the local spool.</summary>
    public int PartSizeBytes { get; set; } = 16 * 1024 * 1024;
    /// <summary>Answer blob hits with 307 to a presigned URL instead of streaming them.</summary>
    public bool RedirectBlobs { get; set; }
    public TimeSpan RedirectExpiry { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>Per-request timeout of S3 calls, so an unreachable service fails requests fast.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

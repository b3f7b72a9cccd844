namespace CacheRegistry.Oci;

/// <summary>An OCI error to answer with: HTTP status, code, message and optional detail.</summary>
public sealed class RegistryError(int status, string code, string message, object? detail = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public object? Detail { get; } = detail;
    /// <summary>Seconds to put in Retry-After, for 429 and 503.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>A wait as Retry-After seconds: whole, and at least one.</summary>
    public static int SecondsToRetry(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));

    public static RegistryError NameInvalid(string message) => new(400, "NAME_INVALID", message);
    public static RegistryError DigestInvalid(string message) => new(400, "DIGEST_INVALID", message);
    public static RegistryError NameUnknown(string message) => new(404, "NAME_UNKNOWN", message);
    public static RegistryError ManifestUnknown(string message) => new(404, "MANIFEST_UNKNOWN", message);
    public static RegistryError BlobUnknown(string message) => new(404, "BLOB_UNKNOWN", message);
    public static RegistryError Unsupported(string message) => new(405, "UNSUPPORTED", message);
    public static RegistryError RangeInvalid(string message, long? size) => new(416, "RANGE_INVALID", message) { UnsatisfiedSize = size };
    public static RegistryError BadRequest(string code, string message) => new(400, code, message);

    /// <summary>The upstream itself said the thing does not exist (worth remembering, unlike an outage).</summary>
    public bool UpstreamSaidMissing { get; init; }

    /// <summary>For 401 answers the client can do something about: the WWW-Authenticate challenge to send.</summary>
    public string? Challenge { get; init; }

    /// <summary>For 416 answers: the blob size to report in <c>Content-Range: bytes */size</c>.</summary>
    public long? UnsatisfiedSize { get; init; }
}

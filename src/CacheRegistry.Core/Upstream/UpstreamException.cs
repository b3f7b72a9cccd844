using CacheRegistry.Oci;

namespace CacheRegistry.Upstream;

public enum UpstreamFailure { Unavailable, Timeout, BadResponse, RateLimited, Unauthorized, Denied, NotFound, Corrupt, Offline, QuotaSpent }

/// <summary>An upstream call that failed; the message names the upstream endpoint and the cause.</summary>
public sealed class UpstreamException(UpstreamFailure failure, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public UpstreamFailure Failure { get; } = failure;
    public int? RetryAfterSeconds { get; init; }
    /// <summary>The upstream's own OCI error code, passed through when it sent one.</summary>
    public string? UpstreamCode { get; init; }
    /// <summary>Another try may succeed: the next endpoint of the chain, or a resumed download.</summary>
    public bool IsTransient => Failure is UpstreamFailure.Unavailable or UpstreamFailure.Timeout or UpstreamFailure.BadResponse or UpstreamFailure.RateLimited;

    /// <summary>The OCI error this failure becomes when nothing cached can be served instead.</summary>
    public RegistryError ToRegistryError(string notFoundCode = "MANIFEST_UNKNOWN") => Failure switch
    {
        UpstreamFailure.NotFound => new RegistryError(404, UpstreamCode is "NAME_UNKNOWN" ? "NAME_UNKNOWN" : notFoundCode, Message) { UpstreamSaidMissing = true },
        UpstreamFailure.Unauthorized => new RegistryError(401, "UNAUTHORIZED", Message),
        UpstreamFailure.Denied => new RegistryError(403, "DENIED", Message),
        UpstreamFailure.RateLimited or UpstreamFailure.QuotaSpent => new RegistryError(429, "TOOMANYREQUESTS", Message) { RetryAfterSeconds = RetryAfterSeconds ?? 60 },
        UpstreamFailure.Timeout => new RegistryError(504, "UNAVAILABLE", Message),
        UpstreamFailure.BadResponse or UpstreamFailure.Corrupt => new RegistryError(502, "UNAVAILABLE", Message),
        UpstreamFailure.Offline => new RegistryError(503, "UNAVAILABLE", Message),
        _ => new RegistryError(503, "UNAVAILABLE", Message) { RetryAfterSeconds = 10 },
    };
}

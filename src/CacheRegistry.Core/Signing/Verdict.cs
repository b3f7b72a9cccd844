namespace CacheRegistry.Signing;

/// <summary>The outcome of checking one image's signatures against a policy (the metric's <c>result</c> label).</summary>
public enum VerificationResult
{
    /// <summary>A signature made by one of the policy's keys names the image.</summary>
    Verified,

    /// <summary>The image has no signature tag.</summary>
    NoSignature,

    /// <summary>Signatures exist but none holds: another key, another image, altered or malformed.</summary>
    Invalid,

    /// <summary>The signature could not be fetched or read (the upstream or a store failed).</summary>
    Error,
}

public sealed record Verdict(VerificationResult Result, string Reason, string? Key = null)
{
    public string Label => Result switch
    {
        VerificationResult.Verified => "verified",
        VerificationResult.NoSignature => "unsigned",
        VerificationResult.Invalid => "invalid",
        _ => "error",
    };
}

namespace CacheRegistry;

/// <summary>
/// One <c>Registry:Policies:&lt;i&gt;</c> entry: the repositories whose images must carry a cosign
/// signature made by one of <see cref="Keys"/>. The first policy whose patterns match a repository decides.
/// </summary>
public sealed class PolicyOptions
{
    /// <summary>Shown in denials, logs, the ledger and metrics; <c>policy-&lt;i&gt;</c> when not given.</summary>
    public string? Name { get; set; }

    /// <summary>Repository patterns as the access rules write them: <c>docker.io/team/*</c>, <c>ghcr.io/org/**</c>.</summary>
    public List<string> Repositories { get; set; } = [];

    /// <summary>PEM public key files (ECDSA P-256/P-384, RSA, Ed25519), as <c>cosign generate-key-pair</c> writes them.</summary>
    public List<string> Keys { get; set; } = [];

    /// <summary><c>enforce</c> (deny what does not verify) or <c>warn</c> (serve it, log and count).</summary>
    public string Mode { get; set; } = "enforce";
}

using System.Security.Cryptography;
using System.Text;
using CacheRegistry.Routing;

namespace CacheRegistry.Signing;

/// <summary>A configured policy with its keys loaded.</summary>
public sealed class SignaturePolicy(string name, IReadOnlyList<string> repositories, KeySet keys, bool enforce)
{
    public string Name => name;
    public IReadOnlyList<string> Repositories => repositories;
    public KeySet Keys => keys;
    public ITrustRoot Trust => keys;

    /// <summary>Deny what does not verify; otherwise (warn) serve it, log and count.</summary>
    public bool Enforce => enforce;

    /// <summary>
    /// The policy's name and its keys: admissions are kept under it, so a policy given other keys
    /// decides again instead of trusting what the old keys admitted.
    /// </summary>
    public string Id { get; } = name + "@" + Convert.ToHexStringLower(
        SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(",", keys.Keys.Select(k => k.Fingerprint).Order(StringComparer.Ordinal)))))[..16];
}

/// <summary><c>Registry:Policies</c>, loaded once: the first policy whose patterns match a repository decides.</summary>
public sealed class SignaturePolicies : IDisposable
{
    public SignaturePolicies(RegistryOptions options)
    {
        All = options.Policies.Select((p, i) => new SignaturePolicy(NameOf(p, i), p.Repositories,
            new KeySet(p.Keys.Select(VerificationKey.Load).ToList()), !string.Equals(p.Mode, "warn", StringComparison.OrdinalIgnoreCase))).ToList();
    }

    public IReadOnlyList<SignaturePolicy> All { get; }

    public static string NameOf(PolicyOptions policy, int index) => string.IsNullOrWhiteSpace(policy.Name) ? $"policy-{index}" : policy.Name;

    /// <summary>The policy that decides for <paramref name="repository"/> (a cache key such as docker.io/team/app), or null.</summary>
    public SignaturePolicy? For(string repository)
    {
        foreach (var policy in All)
            if (policy.Repositories.Any(p => RepositoryPattern.Matches(p, repository))) return policy;
        return null;
    }

    public void Dispose()
    {
        foreach (var key in All.SelectMany(p => p.Keys.Keys)) key.Dispose();
    }
}

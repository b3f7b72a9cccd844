namespace CacheRegistry.Signing;

/// <summary><c>Registry:Policies</c>: patterns, readable keys, a known mode.</summary>
public sealed class PolicyRules : OptionRules<RegistryOptions>
{
    protected override void Check(RegistryOptions o, OptionProblems p)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < o.Policies.Count; i++)
        {
            var policy = o.Policies[i];
            var key = $"Registry:Policies:{i}";
            p.Require(names.Add(SignaturePolicies.NameOf(policy, i)), $"{key}:Name = '{policy.Name}': another policy has that name");
            p.Require(policy.Repositories.Count > 0, $"{key}:Repositories: expected one pattern or more (docker.io/team/*, ghcr.io/org/**)");
            p.Require(policy.Keys.Count > 0, $"{key}:Keys: expected one PEM public key file or more (cosign.pub)");
            p.Require(policy.Mode is "enforce" or "warn", $"{key}:Mode = '{policy.Mode}': expected enforce or warn");
            for (var j = 0; j < policy.Keys.Count; j++)
            {
                try
                {
                    VerificationKey.Load(policy.Keys[j]).Dispose();
                }
                catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
                {
                    p.Add($"{key}:Keys:{j} = '{policy.Keys[j]}': {e.Message}");
                }
            }
        }
    }
}

namespace CacheRegistry.Cache;

/// <summary>The <c>Registry</c> keys of tags, manifests and blob sizes, and <c>Registry:Fill</c>.</summary>
public sealed class CachingRules : OptionRules<RegistryOptions>
{
    protected override void Check(RegistryOptions o, OptionProblems p)
    {
        p.NotNegative("Registry", ("TagTtl", o.TagTtl));
        p.Require(o.NegativeTtl >= TimeSpan.Zero, $"Registry:NegativeTtl = {o.NegativeTtl}: expected zero (off) or more");
        p.Positive("Registry", ("RevalidateDeadline", o.RevalidateDeadline));
        p.PositiveSize("Registry:MaxBlobSize", o.MaxBlobSize);
        p.Require(o.MaxManifestBytes is > 0 and <= 64 * 1024 * 1024, $"Registry:MaxManifestBytes = {o.MaxManifestBytes}: expected 1 to 67108864");
        p.Require(o.MemoryCacheBytes > 0, $"Registry:MemoryCacheBytes = {o.MemoryCacheBytes}: expected more than zero");
        p.Require(o.Fill.ResumeAttempts >= 0, $"Registry:Fill:ResumeAttempts = {o.Fill.ResumeAttempts}: expected zero or more");
        p.Positive("Registry:Fill", ("LeaseTtl", o.Fill.LeaseTtl), ("LeasePoll", o.Fill.LeasePoll));
    }
}

using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Cache;

/// <summary>
/// An upstream's "not found" for a tag, manifest or blob, remembered for <c>Registry:NegativeTtl</c>:
/// a thousand nodes asking for a tag that does not exist reach the upstream once per window
/// (single-flight does the rest). Outages are never remembered as absence.
/// </summary>
public sealed class NegativeCache(HotCache hot, RegistryOptions options, TimeProvider time)
{
    public void Remember(RepositoryRef repo, string reference)
    {
        if (options.NegativeTtl > TimeSpan.Zero) hot.SetMissing(repo.Key, reference, time.GetUtcNow() + options.NegativeTtl);
    }

    /// <summary>Throws the 404 again while the upstream's answer is remembered.</summary>
    public void ThrowIfMissing(RepositoryRef repo, string reference, string code)
    {
        if (hot.GetMissingUntil(repo.Key, reference) is { } until && time.GetUtcNow() < until)
            throw new RegistryError(404, code,
                $"{repo.Upstream.Name} answered that {repo.Name} has no '{reference}' (remembered until {until.UtcDateTime:HH:mm:ss}Z, see Registry:NegativeTtl)");
    }

    /// <summary>Runs an upstream-backed lookup, remembering a "not found" it ends in.</summary>
    public async Task<T> RememberingAsync<T>(RepositoryRef repo, string reference, Func<Task<T>> lookup)
    {
        try
        {
            return await lookup();
        }
        catch (RegistryError e) when (e.UpstreamSaidMissing)
        {
            Remember(repo, reference);
            throw;
        }
    }
}

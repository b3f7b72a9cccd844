using CacheRegistry.Cluster;
using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Cache;

/// <summary>
/// An upstream's "not found" for a tag, manifest or blob, remembered for <c>Registry:NegativeTtl</c>:
/// a thousand nodes asking for a tag that does not exist reach the upstream once per window
/// (single-flight does the rest), and with replicas once per cluster (<see cref="ISharedState"/>,
/// asked only on the way to the upstream). Outages are never remembered as absence.
/// </summary>
public sealed class NegativeCache(HotCache hot, RegistryOptions options, TimeProvider time, ISharedState? shared = null)
{
    private readonly ISharedState _shared = shared ?? NothingShared.Instance;

    private static string SharedKey(RepositoryRef repo, string reference) => $"missing:{repo.Key}:{reference}";

    public void Remember(RepositoryRef repo, string reference)
    {
        if (options.NegativeTtl <= TimeSpan.Zero) return;
        var until = time.GetUtcNow() + options.NegativeTtl;
        hot.SetMissing(repo.Key, reference, until);
        _ = _shared.SetAsync(SharedKey(repo, reference), until.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), until,
            CancellationToken.None);
    }

    /// <summary>The reference exists now (it was just pushed): its "not found" is forgotten here and by the other replicas.</summary>
    public void Forget(RepositoryRef repo, string reference)
    {
        hot.ForgetMissing(repo.Key, reference);
        if (options.NegativeTtl > TimeSpan.Zero)
            _ = _shared.SetAsync(SharedKey(repo, reference), "0", time.GetUtcNow() + options.NegativeTtl, CancellationToken.None);
    }

    /// <summary>Throws the 404 again while the upstream's answer is remembered here.</summary>
    public void ThrowIfMissing(RepositoryRef repo, string reference, string code)
    {
        if (hot.GetMissingUntil(repo.Key, reference) is { } until && time.GetUtcNow() < until)
            throw Missing(repo, reference, code, until);
    }

    /// <summary>As <see cref="ThrowIfMissing"/>, and asks the other replicas too: for the way to the upstream, not the hit path.</summary>
    public async Task ThrowIfMissingAsync(RepositoryRef repo, string reference, string code, CancellationToken ct)
    {
        ThrowIfMissing(repo, reference, code);
        if (options.NegativeTtl <= TimeSpan.Zero || await _shared.GetAsync(SharedKey(repo, reference), ct) is not { } text
            || !long.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var ms)) return;
        var until = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        if (time.GetUtcNow() >= until) return;
        hot.SetMissing(repo.Key, reference, until);
        throw Missing(repo, reference, code, until);
    }

    private static RegistryError Missing(RepositoryRef repo, string reference, string code, DateTimeOffset until) =>
        new(404, code, $"{repo.Upstream.Name} answered that {repo.Name} has no '{reference}' (remembered until {until.UtcDateTime:HH:mm:ss}Z, see Registry:NegativeTtl)");

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

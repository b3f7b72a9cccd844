using System.Collections.Concurrent;
using CacheRegistry.Oci;
using CacheRegistry.Upstream;

namespace CacheRegistry.Routing;

/// <summary>
/// For upstreams with ClientCredentials=Passthrough: before anything is served for a repository,
/// cached or not, the client's own credentials (or none) must pass a HEAD at the upstream for it.
/// Decisions are kept per client identity and repository for PassthroughCheckTtl, and shared with
/// the other replicas (<see cref="Cluster.ISharedState"/>): a refusal one of them saw holds on all;
/// while the upstream cannot be reached, an identity that passed before keeps its access, others wait.
/// </summary>
public sealed class PassthroughAccess(RegistryOptions options, TimeProvider time, Cluster.ISharedState? shared = null)
{
    private readonly Cluster.ISharedState _shared = shared ?? Cluster.NothingShared.Instance;

    private const int MaxDecisions = 100_000;
    // Keyed by identity and repository (access), or identity and repository@reference ("not found").
    private readonly ConcurrentDictionary<(string Identity, string Key), Decision> _decisions = new();

    private sealed record Decision(DateTimeOffset Until, RegistryError? Refusal);

    /// <summary>Returns when the current client (<see cref="ClientCredentials.Current"/>) may have <paramref name="reference"/> of <paramref name="repo"/>; throws the refusal otherwise.</summary>
    /// <param name="reference">The tag or digest asked for (empty for a tag list): an upstream "not found" is about it alone.</param>
    /// <param name="notFoundCode">The OCI code of a "not found" for what is asked (<c>MANIFEST_UNKNOWN</c>, <c>BLOB_UNKNOWN</c>…).</param>
    /// <param name="probe">A request to the upstream for what is asked (a HEAD), made with the client's credentials.</param>
    public async Task CheckAsync(RepositoryRef repo, string reference, string notFoundCode, Func<CancellationToken, Task> probe, CancellationToken ct)
    {
        var client = ClientCredentials.Current;
        var identity = client?.Identity ?? "anonymous";
        // Access (allowed, 401, 403) is the repository's; "not found" only the reference's, so one
        // missing tag never hides the repository's other tags from anyone.
        var (access, missing) = ((identity, repo.Key), (identity, repo.Key + "@" + reference));
        var now = time.GetUtcNow();
        var known = await KnownAsync(missing, now, ct) ?? await KnownAsync(access, now, ct);
        if (known is not null)
        {
            if (known.Refusal is { } refused) throw refused;
            return;
        }
        RegistryError? refusal;
        try
        {
            await probe(ct);
            refusal = null;
        }
        catch (UpstreamException e) when (e.Failure is UpstreamFailure.NotFound)
        {
            var notFound = e.ToRegistryError(notFoundCode);
            await RememberAsync(missing, new Decision(now + repo.Upstream.PassthroughCheckTtl, notFound));
            throw notFound;
        }
        catch (UpstreamException e) when (e.Failure is UpstreamFailure.Unauthorized or UpstreamFailure.Denied)
        {
            refusal = Refusal(e, repo, client);
        }
        catch (UpstreamException e)
        {
            if (_decisions.TryGetValue(access, out var before) && before.Refusal is null) return; // the upstream is away: what this identity was allowed, it keeps
            throw new RegistryError(503, "UNAVAILABLE",
                $"upstream {repo.Upstream.Name} must confirm the client's access to {repo.Name} (ClientCredentials=Passthrough) and cannot now: {e.Message}") { RetryAfterSeconds = 10 };
        }
        await RememberAsync(access, new Decision(now + repo.Upstream.PassthroughCheckTtl, refusal));
        if (refusal is not null) throw refusal;
    }

    /// <summary>
    /// <paramref name="reference"/> exists now (it was just pushed): every "not found" this replica
    /// remembers for it is dropped, and the current client's shared one too.
    /// </summary>
    public async Task ForgetMissingAsync(RepositoryRef repo, string reference)
    {
        var key = repo.Key + "@" + reference;
        foreach (var k in _decisions.Keys.Where(k => k.Key == key)) _decisions.TryRemove(k, out _);
        var identity = ClientCredentials.Current?.Identity ?? "anonymous";
        await _shared.SetAsync(SharedKey((identity, key)), SharedDecision.Format(new Decision(time.GetUtcNow(), null)), time.GetUtcNow() + TimeSpan.FromSeconds(1),
            CancellationToken.None);
    }

    /// <summary>
    /// Whether <paramref name="identity"/> (null: anonymous) passed the upstream's check for the
    /// repository on this replica and the decision still holds: listings name nothing else.
    /// </summary>
    public bool Allows(string? identity, string repositoryKey) =>
        _decisions.TryGetValue((identity ?? "anonymous", repositoryKey), out var d) && d.Refusal is null && d.Until > time.GetUtcNow();

    /// <summary>This replica's decision, else the one another replica shared (kept here from then on).</summary>
    private async Task<Decision?> KnownAsync((string Identity, string Key) key, DateTimeOffset now, CancellationToken ct)
    {
        if (_decisions.TryGetValue(key, out var known) && known.Until > now) return known;
        if (await _shared.GetAsync(SharedKey(key), ct) is not { } text || SharedDecision.Parse(text, options) is not { } shared || shared.Until <= now) return null;
        _decisions[key] = shared;
        return shared;
    }

    private async Task RememberAsync((string Identity, string Key) key, Decision decision)
    {
        if (_decisions.Count >= MaxDecisions) _decisions.Clear();
        _decisions[key] = decision;
        await _shared.SetAsync(SharedKey(key), SharedDecision.Format(decision), decision.Until, CancellationToken.None);
    }

    // Hashed: a passthrough identity carries a hash of the password already, and the key names no user.
    private static string SharedKey((string Identity, string Key) key) => Cluster.SharedKey.Hashed("passthrough", $"{key.Identity}\0{key.Key}");

    /// <summary>A decision as the replicas share it: <c>until|status|code|message</c>, status 0 for "allowed".</summary>
    private static class SharedDecision
    {
        public static string Format(Decision d) =>
            string.Join('|', d.Until.ToUnixTimeMilliseconds(), d.Refusal?.Status ?? 0, d.Refusal?.Code ?? "", d.Refusal?.Message ?? "");

        public static Decision? Parse(string text, RegistryOptions options)
        {
            var parts = text.Split('|', 4);
            if (parts.Length != 4 || !long.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var ms)
                || !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var status)) return null;
            var until = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            if (status == 0) return new Decision(until, null);
            return new Decision(until, new RegistryError(status, parts[2], parts[3])
            {
                Challenge = status == 401 ? $"Basic realm=\"{options.Auth.Realm}\"" : null,
            });
        }
    }

    private RegistryError Refusal(UpstreamException e, RepositoryRef repo, ClientCredentials? client) => e.Failure switch
    {
        UpstreamFailure.Unauthorized => new RegistryError(401, "UNAUTHORIZED", client is null
            ? $"upstream {repo.Upstream.Name} wants credentials for {repo.Name}: log in to this cache with your {repo.Upstream.Name} credentials (docker login, an imagePullSecret); they are passed on"
            : $"upstream {repo.Upstream.Name} refused these credentials for {repo.Name}")
        {
            Challenge = $"Basic realm=\"{options.Auth.Realm}\"",
        },
        _ => e.ToRegistryError(),
    };
}

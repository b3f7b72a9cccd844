using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>A repository's tags: the upstream's list when it answers, the cached tags when it does not.</summary>
public sealed partial class TagLister(IMetadataStore store, ILogger<TagLister> log)
{
    private const int MaxPages = 50;
    private const int MaxPageBytes = 8 * 1024 * 1024;

    /// <returns>All tags in ordinal order, and whether they came from the upstream.</returns>
    public async Task<(IReadOnlyList<string> Tags, CacheOutcome Outcome)> ListAsync(RepositoryRef repo, CancellationToken ct)
    {
        try
        {
            var tags = await FetchAllAsync(repo, ct);
            return (tags.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList(), CacheOutcome.Miss);
        }
        catch (UpstreamException e) when (e.Failure != UpstreamFailure.NotFound)
        {
            IReadOnlyList<string> cached;
            try
            {
                cached = await store.ListTagsAsync(repo.Key, ct);
            }
            catch (StoreUnavailableException)
            {
                throw e.ToRegistryError("NAME_UNKNOWN");
            }
            if (cached.Count == 0) throw e.ToRegistryError("NAME_UNKNOWN");
            Log.CachedTags(log, repo.Key, e.Message);
            return (cached.Order(StringComparer.Ordinal).ToList(), CacheOutcome.Stale);
        }
        catch (UpstreamException e)
        {
            throw e.ToRegistryError("NAME_UNKNOWN");
        }
    }

    private static async Task<List<string>> FetchAllAsync(RepositoryRef repo, CancellationToken ct)
    {
        var all = new List<string>();
        string? cursor = null;
        for (var page = 0; page == 0 || (page < MaxPages && cursor is not null); page++)
        {
            var tags = await repo.Upstream.ListTagsPageAsync(repo.Name, cursor, MaxPageBytes, ct);
            all.AddRange(tags.Tags);
            cursor = tags.Next;
        }
        return all;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "tags of {Repository} served from cache: upstream failed: {Reason}")]
        public static partial void CachedTags(ILogger logger, string repository, string reason);
    }
}

using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>A repository's tags as the upstream listed them, and when.</summary>
public sealed record TagListing(IReadOnlyList<string> Tags, DateTimeOffset FetchedAt);

/// <summary>
/// A repository's tags: the upstream's whole list (every page), kept for the tag freshness window
/// and fetched once however many clients ask; when the upstream fails, the last list it gave, or
/// the tags the cache holds.
/// </summary>
public sealed partial class TagLister(IMetadataStore store, HotCache hot, BackgroundWork work, RegistryOptions options, TimeProvider time, ILogger<TagLister> log)
{
    /// <summary>Pages followed at most; each page is at most <see cref="MaxPageBytes"/>.</summary>
    public const int MaxPages = 1000;
    /// <summary>Tags kept at most per repository; past it the list is cut and a warning logged.</summary>
    public const int MaxTags = 100_000;
    private const int MaxPageBytes = 8 * 1024 * 1024;
    private readonly SingleFlight<string, TagListing> _flights = new();

    /// <returns>All tags in ordinal order, and where they came from.</returns>
    public async Task<(IReadOnlyList<string> Tags, CacheOutcome Outcome)> ListAsync(RepositoryRef repo, CancellationToken ct)
    {
        var cached = hot.GetTagList(repo.Key);
        if (cached is not null && (time.GetUtcNow() - cached.FetchedAt < options.TagTtl || repo.Upstream.IsOffline)) return (cached.Tags, CacheOutcome.Hit);
        try
        {
            var flight = _flights.RunAsync(repo.Key, () => FetchAsync(repo), ct);
            // With a list to fall back on, an upstream that hangs costs at most the revalidation deadline.
            var listing = cached is null ? await flight : await flight.WaitAsync(options.RevalidateDeadline, time, ct);
            return (listing.Tags, CacheOutcome.Miss);
        }
        catch (TimeoutException e) when (cached is not null)
        {
            Log.StaleList(log, repo.Key, cached.FetchedAt, $"the upstream did not answer within {options.RevalidateDeadline.TotalSeconds:0.#} s ({e.Message})");
            return (cached.Tags, CacheOutcome.Stale);
        }
        catch (UpstreamException e) when (e.Failure == UpstreamFailure.NotFound)
        {
            throw e.ToRegistryError("NAME_UNKNOWN");
        }
        catch (Exception e) when (e is UpstreamException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            if (cached is not null)
            {
                Log.StaleList(log, repo.Key, cached.FetchedAt, e.Message);
                return (cached.Tags, CacheOutcome.Stale);
            }
            IReadOnlyList<string> known;
            try
            {
                known = await store.ListTagsAsync(repo.Key, ct);
            }
            catch (StoreUnavailableException)
            {
                known = [];
            }
            if (known.Count == 0) throw e is UpstreamException u ? u.ToRegistryError("NAME_UNKNOWN") : new Oci.RegistryError(504, "UNAVAILABLE", $"upstream {repo.Upstream.Name} did not list the tags of {repo.Name} in time");
            Log.CachedTags(log, repo.Key, e.Message);
            return (known.Order(StringComparer.Ordinal).ToList(), CacheOutcome.Stale);
        }
    }

    private async Task<TagListing> FetchAsync(RepositoryRef repo)
    {
        using var owner = work.Bounded(options.Timeouts.FirstByte + options.Timeouts.Idle);
        var all = new HashSet<string>(StringComparer.Ordinal);
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await repo.Upstream.ListTagsPageAsync(repo.Name, cursor, MaxPageBytes, owner.Token);
            all.UnionWith(page.Tags);
            cursor = page.Next;
            pages++;
        }
        while (cursor is not null && pages < MaxPages && all.Count < MaxTags);
        if (cursor is not null) Log.ListCut(log, repo.Key, pages, all.Count, MaxPages, MaxTags);
        var listing = new TagListing(all.Order(StringComparer.Ordinal).Take(MaxTags).ToList(), time.GetUtcNow());
        hot.SetTagList(repo.Key, listing);
        return listing;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "tags of {Repository} served from the tags the cache holds: upstream failed: {Reason}")]
        public static partial void CachedTags(ILogger logger, string repository, string reason);

        [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "tags of {Repository} served from the list fetched at {FetchedAt:u}: upstream failed: {Reason}")]
        public static partial void StaleList(ILogger logger, string repository, DateTimeOffset fetchedAt, string reason);

        [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "tags of {Repository}: stopped after {Pages} pages and {Tags} tags (at most {MaxPages} pages, {MaxTags} tags); the list is cut")]
        public static partial void ListCut(ILogger logger, string repository, int pages, int tags, int maxPages, int maxTags);
    }
}

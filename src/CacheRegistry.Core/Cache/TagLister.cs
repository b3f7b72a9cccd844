using System.Text.Json;
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
        var path = "tags/list";
        for (var page = 0; page < MaxPages && path is not null; page++)
        {
            using var response = await repo.Upstream.SendAsync(HttpMethod.Get, repo.Name, path, ["application/json"], ct,
                originOnly: repo.Upstream.TagsFromOriginOnly);
            using var doc = JsonDocument.Parse(await response.ReadSmallBodyAsync(MaxPageBytes, ct));
            if (doc.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array)
                all.AddRange(tags.EnumerateArray().Select(t => t.GetString()).OfType<string>().Where(Grammar.IsValidTag));
            path = NextPath(response, repo.Name);
        }
        return all;
    }

    // Link: </v2/<name>/tags/list?n=100&last=x>; rel="next" → "tags/list?n=100&last=x"
    private static string? NextPath(UpstreamResponse response, string name)
    {
        if (!response.Message.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var link in links)
        {
            if (!link.Contains("rel=\"next\"", StringComparison.Ordinal)) continue;
            var start = link.IndexOf('<') + 1;
            var end = link.IndexOf('>');
            if (start <= 0 || end < start) continue;
            var target = link[start..end];
            var marker = $"/v2/{name}/";
            var at = target.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) return target[(at + marker.Length)..];
        }
        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "tags of {Repository} served from cache: upstream failed: {Reason}")]
        public static partial void CachedTags(ILogger logger, string repository, string reason);
    }
}

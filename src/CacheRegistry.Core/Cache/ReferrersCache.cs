using System.Text;
using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Cache;

/// <summary>The referrers of a manifest (signatures, attestations, SBOMs), each descriptor kept as the upstream wrote it.</summary>
public sealed record ReferrerList(IReadOnlyList<(string Json, string? ArtifactType)> Descriptors, DateTimeOffset FetchedAt);

/// <summary>An OCI image index of referrers, and how the request was answered.</summary>
public sealed record ReferrersAnswer(byte[] Index, bool Filtered, CacheOutcome Outcome);

/// <summary>
/// <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c> for clients: the upstream's own referrers API
/// when it has one, the spec's fallback tag <c>sha256-&lt;hex&gt;</c> when it does not (Docker Hub,
/// distribution 2.8), an empty index when neither has anything. Cached like tags: fresh for the
/// tag freshness window, fetched once however many ask, the last answer served when the upstream fails.
/// </summary>
public sealed partial class ReferrersCache(ManifestCache manifests, HotCache hot, BackgroundWork work, RegistryOptions options, TimeProvider time,
    ILogger<ReferrersCache> log)
{
    private const int MaxIndexBytes = 4 * 1024 * 1024;
    private readonly SingleFlight<string, ReferrerList> _flights = new();

    public async Task<ReferrersAnswer> GetAsync(RepositoryRef repo, Digest subject, string? artifactType, CancellationToken ct)
    {
        var key = $"{repo.Key}@{subject}";
        var cached = hot.GetReferrers(key);
        ReferrerList list;
        CacheOutcome outcome;
        if (cached is not null && (time.GetUtcNow() - cached.FetchedAt < options.TagTtl || repo.Upstream.IsOffline))
        {
            (list, outcome) = (cached, CacheOutcome.Hit);
        }
        else
        {
            try
            {
                var flight = _flights.RunAsync(key, () => FetchAsync(repo, subject, key), ct);
                // With an answer to fall back on, an upstream that hangs costs at most the revalidation deadline.
                (list, outcome) = (cached is null ? await flight : await flight.WaitAsync(options.RevalidateDeadline, time, ct), CacheOutcome.Miss);
            }
            catch (Exception e) when (e is UpstreamException or RegistryError or TimeoutException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                if (cached is null) throw e is UpstreamException u ? u.ToRegistryError() : e;
                Log.Stale(log, key, e.Message);
                (list, outcome) = (cached, CacheOutcome.Stale);
            }
        }
        var chosen = artifactType is null ? list.Descriptors : list.Descriptors.Where(d => d.ArtifactType == artifactType).ToList();
        return new ReferrersAnswer(Index(chosen), artifactType is not null, outcome);
    }

    private async Task<ReferrerList> FetchAsync(RepositoryRef repo, Digest subject, string key)
    {
        using var owner = work.Bounded(options.Timeouts.FirstByte + options.Timeouts.Idle);
        List<(string, string?)> descriptors;
        try
        {
            using var response = await repo.Upstream.GetReferrersAsync(repo.Name, subject, owner.Token);
            descriptors = Descriptors(await response.ReadSmallBodyAsync(MaxIndexBytes, owner.Token));
            // Kept under the fallback tag: it outlives a restart and answers when the upstream is down or the cache offline.
            if (descriptors.Count > 0) await manifests.KeepIndexAsync(repo, Referrer.FallbackTag(subject), Index(descriptors));
        }
        catch (UpstreamException e) when (e.Failure is UpstreamFailure.NotFound or UpstreamFailure.Offline)
        {
            // No referrers API upstream (or no upstream at all): the fallback tag, an index that
            // clients keep up to date and that bundles carry along.
            descriptors = Descriptors(await FallbackTagAsync(repo, subject, owner.Token));
        }
        catch (UpstreamException)
        {
            // The upstream is failing: what the cache last kept under the fallback tag (not
            // revalidated: the index may be the cache's own, made from the upstream's API).
            var kept = await manifests.PeekTagAsync(repo, Referrer.FallbackTag(subject), owner.Token);
            if (kept is null) throw;
            descriptors = Descriptors(kept.Content);
        }
        var list = new ReferrerList(descriptors, time.GetUtcNow());
        hot.SetReferrers(key, list);
        return list;
    }

    private async Task<byte[]> FallbackTagAsync(RepositoryRef repo, Digest subject, CancellationToken ct)
    {
        try
        {
            return (await manifests.GetAsync(repo, Referrer.FallbackTag(subject), ct)).Manifest.Content;
        }
        catch (RegistryError e) when (e.Status == 404 || repo.Upstream.IsOffline)
        {
            // Offline, the cache's own holdings are the whole answer: none kept, none known.
            return [];
        }
    }

    private static List<(string, string?)> Descriptors(byte[] index)
    {
        var list = new List<(string, string?)>();
        if (index.Length == 0) return list;
        try
        {
            using var doc = JsonDocument.Parse(index);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("manifests", out var manifests)
                || manifests.ValueKind != JsonValueKind.Array)
                return list;
            foreach (var m in manifests.EnumerateArray())
                if (m.ValueKind == JsonValueKind.Object)
                    list.Add((m.GetRawText(), m.TryGetProperty("artifactType", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null));
        }
        catch (JsonException)
        {
            // Not an index: no referrers to speak of.
        }
        return list;
    }

    private static byte[] Index(IReadOnlyList<(string Json, string? ArtifactType)> descriptors) => Encoding.UTF8.GetBytes(
        $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{{string.Join(",", descriptors.Select(d => d.Json))}}]}""");

    private static partial class Log
    {
        [LoggerMessage(EventId = 410, Level = LogLevel.Warning, Message = "referrers of {Subject} served from the last answer: upstream failed: {Reason}")]
        public static partial void Stale(ILogger logger, string subject, string reason);
    }
}

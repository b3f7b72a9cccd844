using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Maintenance;

/// <summary>What one round of checks did, and what the pulled tags look like now.</summary>
public sealed record AvailabilityRound(int Checked, IReadOnlyDictionary<string, int> Outcomes, IReadOnlyList<PulledTag> Images);

/// <summary>
/// Asks each tag's upstream, with a HEAD (free on Docker Hub), whether the tags clients pulled
/// recently could still be pulled there: the tags that could not are the ones only the cache
/// still holds, to pin or export before the cache loses them.
/// </summary>
public sealed partial class AvailabilityChecker(IPullHistory history, PullTracker pulls, IMetadataStore metadata, UpstreamSet upstreams,
    RegistryOptions options, TimeProvider time, ILogger<AvailabilityChecker> log, CacheMetrics? metrics = null) : IDisposable
{
    public const string Available = "available", Changed = "changed", Unchecked = "unchecked";
    private readonly SemaphoreSlim _oneRound = new(1, 1);

    /// <summary>Pulled tags in the window by registry and last outcome (<see cref="Unchecked"/> before their first check), as of the last round.</summary>
    public IReadOnlyDictionary<(string Registry, string Outcome), int> Counts { get; private set; } = new Dictionary<(string, string), int>();

    /// <summary>Writes out pending pull times, then checks at most ChecksPerInterval tags per registry, least recently checked first.</summary>
    public async Task<AvailabilityRound> RunAsync(CancellationToken ct)
    {
        await _oneRound.WaitAsync(ct);
        try
        {
            await FlushPullsAsync(ct);
            var outcomes = new Dictionary<string, int>();
            var checkedCount = 0;
            foreach (var registry in (await PulledAsync(ct)).GroupBy(p => RegistryOf(p.Repository)))
            {
                if (upstreams.Find(registry.Key) is not { IsOffline: false } upstream) continue;
                var due = registry.OrderBy(p => p.Check?.CheckedAt ?? DateTimeOffset.MinValue).Take(options.Availability.ChecksPerInterval);
                foreach (var image in due)
                {
                    var check = await CheckAsync(upstream, image, ct);
                    await history.RecordCheckAsync(image.Repository, image.Tag, check, ct);
                    (metrics ?? CacheMetrics.Unobserved).AvailabilityChecked(registry.Key, check.Outcome);
                    outcomes[check.Outcome] = outcomes.GetValueOrDefault(check.Outcome) + 1;
                    checkedCount++;
                    if ((image with { Check = check }).OnlyInCache) Log.NotPullable(log, image.Repository, image.Tag, check.Outcome, check.Detail);
                }
            }
            var images = await PulledAsync(ct);
            Counts = images.GroupBy(i => (RegistryOf(i.Repository), i.Check?.Outcome ?? Unchecked)).ToDictionary(g => g.Key, g => g.Count());
            Log.Round(log, checkedCount, images.Count(i => i.OnlyInCache), images.Count);
            return new AvailabilityRound(checkedCount, outcomes, images);
        }
        finally
        {
            _oneRound.Release();
        }
    }

    /// <summary>Writes the pull times gathered since the last flush to the pull history.</summary>
    public async Task FlushPullsAsync(CancellationToken ct)
    {
        if (pulls.Drain() is { Count: > 0 } pending) await history.RecordPullsAsync(pending, ct);
    }

    /// <summary>The pulled tags in the window with their last check, without checking anything.</summary>
    public async Task<IReadOnlyList<PulledTag>> PulledAsync(CancellationToken ct) =>
        await history.PulledSinceAsync(time.GetUtcNow() - options.Availability.Window, ct);

    private async Task<AvailabilityCheck> CheckAsync(UpstreamClient upstream, PulledTag image, CancellationToken ct)
    {
        var name = image.Repository[(upstream.Name.Length + 1)..];
        var now = time.GetUtcNow();
        try
        {
            using var head = await upstream.HeadManifestAsync(name, image.Tag, ct);
            var cached = await CachedDigestAsync(image, ct);
            return Digest.TryParse(head.DockerContentDigest, out var current) && cached is { } mine && current != mine
                ? new AvailabilityCheck(now, Changed, $"the upstream now names {current}; the cache holds {mine}")
                : new AvailabilityCheck(now, Available, null);
        }
        catch (UpstreamException e)
        {
            var outcome = e.Failure switch
            {
                UpstreamFailure.NotFound when e.UpstreamCode == "NAME_UNKNOWN" => "repository_gone",
                UpstreamFailure.NotFound => "tag_gone",
                UpstreamFailure.Unauthorized or UpstreamFailure.Denied => "denied",
                UpstreamFailure.RateLimited => "rate_limited",
                _ => "unreachable",
            };
            return new AvailabilityCheck(now, outcome, e.Message);
        }
    }

    private async Task<Digest?> CachedDigestAsync(PulledTag image, CancellationToken ct)
    {
        try
        {
            return (await metadata.GetTagAsync(image.Repository, image.Tag, ct))?.Digest;
        }
        catch (StoreUnavailableException)
        {
            return null;
        }
    }

    public void Dispose() => _oneRound.Dispose();

    /// <summary>docker.io/library/nginx → docker.io: cache keys start with the registry host.</summary>
    public static string RegistryOf(string repository) => repository[..Math.Max(0, repository.IndexOf('/'))];

    private static partial class Log
    {
        [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "availability: {Repository}:{Tag} could not be pulled from its upstream now ({Outcome}): {Detail}; only the cache holds it")]
        public static partial void NotPullable(ILogger logger, string repository, string tag, string outcome, string? detail);

        [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "availability: checked {Checked} tags; {NotPullable} of {Total} recently pulled tags could not be pulled from their upstreams")]
        public static partial void Round(ILogger logger, int @checked, int notPullable, int total);
    }
}

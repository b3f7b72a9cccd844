using System.Text.Json;
using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

// Pulled tags: a sorted set of last-pull times and a hash of check results, both keyed by
// "repository tag" (a space is in neither), single-key commands only.
internal sealed partial class RedisMetadataStore : IPullHistory
{
    private RedisKey PullsKey => _prefix + "pulls";
    private RedisKey PullChecksKey => _prefix + "pullchecks";

    private static string Member(string repository, string tag) => repository + " " + tag;

    public Task RecordPullsAsync(IReadOnlyCollection<KeyValuePair<(string Repository, string Tag), DateTimeOffset>> pulls, CancellationToken ct) => Guard(() =>
        Db.SortedSetAddAsync(PullsKey, pulls.Select(p => new SortedSetEntry(Member(p.Key.Repository, p.Key.Tag), p.Value.ToUnixTimeMilliseconds())).ToArray()));

    public Task<IReadOnlyList<PulledTag>> PulledSinceAsync(DateTimeOffset since, CancellationToken ct) => Guard(async () =>
    {
        var entries = await Db.SortedSetRangeByScoreWithScoresAsync(PullsKey, since.ToUnixTimeMilliseconds());
        var checks = entries.Length == 0 ? [] : await Db.HashGetAsync(PullChecksKey, entries.Select(e => e.Element).ToArray());
        return (IReadOnlyList<PulledTag>)entries.Zip(checks).Select(x =>
        {
            var member = (string)x.First.Element!;
            var space = member.LastIndexOf(' ');
            var check = x.Second.IsNull ? null : JsonSerializer.Deserialize<AvailabilityCheck>((string)x.Second!);
            return new PulledTag(member[..space], member[(space + 1)..], DateTimeOffset.FromUnixTimeMilliseconds((long)x.First.Score), check);
        }).OrderBy(p => p.Repository, StringComparer.Ordinal).ThenBy(p => p.Tag, StringComparer.Ordinal).ToList();
    });

    public Task RecordCheckAsync(string repository, string tag, AvailabilityCheck check, CancellationToken ct) => Guard(() =>
        Db.HashSetAsync(PullChecksKey, Member(repository, tag), JsonSerializer.Serialize(check)));
}

using System.Runtime.CompilerServices;
using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

// The blob index, catalog and ledger in Redis: a hash of sizes, a sorted set of last access,
// reverse-link sets, and a list for the ledger. Catalog scans use SCAN on each server.
internal sealed partial class RedisMetadataStore : IBlobIndex, IMetadataCatalog, ILedger
{
    private RedisKey BlobSizesKey => _prefix + "blobs";
    private RedisKey AccessKey => _prefix + "access";
    private RedisKey LedgerKey => _prefix + "ledger";

    public Task RecordBlobAsync(Digest digest, long size, DateTimeOffset at, CancellationToken ct) => Guard(async () =>
    {
        await Db.HashSetAsync(BlobSizesKey, digest.ToString(), size);
        // GT: a last access never goes back (a repeated record, another replica's late flush); new members are still added.
        await Db.SortedSetAddAsync(AccessKey, digest.ToString(), at.ToUnixTimeMilliseconds(), SortedSetWhen.GreaterThan);
    });

    public Task<long?> RecordedSizeAsync(Digest digest, CancellationToken ct) => Guard(async () =>
        (long?)await Db.HashGetAsync(BlobSizesKey, digest.ToString()));

    public Task TouchBlobsAsync(IReadOnlyCollection<KeyValuePair<Digest, DateTimeOffset>> accesses, CancellationToken ct) => Guard(() =>
        Db.SortedSetAddAsync(AccessKey, accesses.Select(a => new SortedSetEntry(a.Key.ToString(), a.Value.ToUnixTimeMilliseconds())).ToArray(), SortedSetWhen.GreaterThan));

    public Task<IReadOnlyList<BlobRecord>> OldestBlobsAsync(int limit, int skip, CancellationToken ct) => Guard(async () =>
    {
        var entries = await Db.SortedSetRangeByRankWithScoresAsync(AccessKey, skip, skip + limit - 1);
        var sizes = await Db.HashGetAsync(BlobSizesKey, entries.Select(e => e.Element).ToArray());
        return (IReadOnlyList<BlobRecord>)entries.Zip(sizes)
            .Where(x => !x.Second.IsNull)
            .Select(x => new BlobRecord(Digest.Parse(x.First.Element!), (long)x.Second, DateTimeOffset.FromUnixTimeMilliseconds((long)x.First.Score)))
            .ToList();
    });

    public Task<(long Count, long Bytes)> TotalsAsync(CancellationToken ct) => Guard(async () =>
    {
        var values = await Db.HashValuesAsync(BlobSizesKey);
        return ((long)values.Length, values.Sum(v => (long)v));
    });

    public Task ForgetBlobAsync(Digest digest, CancellationToken ct) => Guard(async () =>
    {
        await Db.HashDeleteAsync(BlobSizesKey, digest.ToString());
        await Db.SortedSetRemoveAsync(AccessKey, digest.ToString());
    });

    public Task<IReadOnlyList<string>> RepositoriesLinkingAsync(Digest digest, CancellationToken ct) => Guard(async () =>
        (IReadOnlyList<string>)(await Db.SetMembersAsync(LinkedByKey(digest))).Select(v => (string)v!).Order(StringComparer.Ordinal).ToList());

    public async IAsyncEnumerable<StoredManifest> AllManifestsAsync([EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var key in await ScanAsync("manifest:"))
        {
            ct.ThrowIfCancellationRequested();
            if (!Digest.TryParse(((string)key!)[(_prefix.Length + "manifest:".Length)..], out var digest)) continue;
            if (await GetManifestAsync(digest, ct) is { } manifest) yield return manifest;
        }
    }

    /// <summary>Repositories with tags or links (a repository pulled only by digest has no tags).</summary>
    public async Task<IReadOnlyList<string>> ListRepositoriesAsync(CancellationToken ct)
    {
        string[] kinds = ["tags:", "links:"];
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var kind in kinds)
            names.UnionWith((await ScanAsync(kind)).Select(k => ((string)k!)[(_prefix.Length + kind.Length)..]));
        return [.. names];
    }

    public Task DeleteTagAsync(string repository, string tag, CancellationToken ct) => Guard(() => Db.HashDeleteAsync(TagsKey(repository), tag));

    public Task UnlinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct) => Guard(async () =>
    {
        await Db.SetRemoveAsync(LinksKey(repository), digests.Select(d => (RedisValue)d.ToString()).ToArray());
        foreach (var d in digests) await Db.SetRemoveAsync(LinkedByKey(d), repository);
    });

    public Task DeleteManifestAsync(Digest digest, CancellationToken ct) => Guard(() => Db.KeyDeleteAsync(ManifestKey(digest)));

    public Task AppendAsync(LedgerEntry entry, CancellationToken ct) => Guard(() =>
        Db.ListRightPushAsync(LedgerKey, JsonSerializer.Serialize(new LedgerJson(entry.Time.ToUnixTimeMilliseconds(), entry.Upstream,
            entry.Repository, entry.Tag, entry.Digest.ToString(), entry.MediaType, entry.Size, entry.Endpoint, entry.Subject?.ToString(), entry.ArtifactType,
            entry.Check?.Policy, entry.Check?.Result, entry.Check?.Key))));

    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(DateTimeOffset? since, int limit, CancellationToken ct) => Guard(async () =>
    {
        var from = since?.ToUnixTimeMilliseconds() ?? 0;
        var all = await Db.ListRangeAsync(LedgerKey, 0, -1);
        return (IReadOnlyList<LedgerEntry>)all.Select(v => JsonSerializer.Deserialize<LedgerJson>((string)v!)!)
            .Where(j => j.Time >= from).Take(limit)
            .Select(j => new LedgerEntry(DateTimeOffset.FromUnixTimeMilliseconds(j.Time), j.Upstream, j.Repository, j.Tag,
                Digest.Parse(j.Digest), j.MediaType, j.Size, j.Endpoint, j.Subject is null ? null : Digest.Parse(j.Subject), j.ArtifactType,
                j.Policy is null ? null : new SignatureCheck(j.Policy, j.Verification ?? "", j.SignedBy)))
            .ToList();
    });

    /// <summary>
    /// Every key of a kind on every master. GC and eviction delete on the strength of a complete
    /// view, never of a partial one: in a Cluster every node must be connected (each master holds
    /// its own slots); otherwise (one server, or Sentinel) the one master that answers holds every
    /// key, and a dead node that Sentinel failed over from is no longer part of the set.
    /// </summary>
    private Task<List<RedisKey>> ScanAsync(string kind) => Guard(() => Task.Run(() =>
    {
        var servers = _redis.GetServers();
        if (servers.Length == 0) throw new StoreUnavailableException(Name, "no Redis endpoint is known");
        var cluster = servers.Any(s => s.IsConnected && s.ServerType == ServerType.Cluster);
        var masters = new List<IServer>();
        foreach (var server in servers)
        {
            if (server.IsConnected && server.IsReplica) continue;
            if (!server.IsConnected)
            {
                if (cluster) throw new StoreUnavailableException(Name, $"node {server.EndPoint} is not connected, so a scan of {kind} keys would be incomplete");
                continue;
            }
            masters.Add(server);
        }
        if (masters.Count == 0) throw new StoreUnavailableException(Name, $"no Redis master is connected, so a scan of {kind} keys would be incomplete");
        if (!cluster && masters.Count > 1)
            throw new StoreUnavailableException(Name, $"{masters.Count} servers answer as master ({string.Join(", ", masters.Select(m => m.EndPoint))}): a failover is in progress");
        var keys = new HashSet<RedisKey>();
        foreach (var server in masters)
            foreach (var key in server.Keys(pattern: _prefix + kind + "*", pageSize: 500)) keys.Add(key);
        return keys.ToList();
    }), ScanTimeout);

    // A scan pages through the whole keyspace; each page is bounded by the connection's sync timeout.
    private static readonly TimeSpan ScanTimeout = TimeSpan.FromMinutes(10);

    private sealed record LedgerJson(long Time, string Upstream, string Repository, string? Tag, string Digest, string MediaType, long Size, string Endpoint,
        string? Subject = null, string? ArtifactType = null, string? Policy = null, string? Verification = null, string? SignedBy = null);
}

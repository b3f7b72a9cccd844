using System.Globalization;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

/// <summary>
/// Tags, manifests and links in Redis, shared by every replica. Every operation touches one key,
/// so Redis Cluster works as is. The connection is made in the background and remade after a
/// loss. Every call goes through the store's circuit: a call Redis does not answer within the
/// store deadline marks it down, and while it is down calls fail at once naming it.
/// </summary>
internal sealed partial class RedisMetadataStore : IMetadataStore, IHealthProbe, IDisposable
{
    private readonly ConnectionMultiplexer _redis;
    private readonly string _prefix;
    private readonly string _endpoints;
    private readonly StoreCircuit _circuit;

    public RedisMetadataStore(MetadataOptions options, StoreHealth? health = null)
    {
        var config = ConfigurationOptions.Parse(options.Configuration);
        if (!string.IsNullOrEmpty(options.Password)) config.Password = options.Password;
        config.AbortOnConnectFail = false; // start and stay up without Redis; reconnect when it is back
        config.ConnectTimeout = Math.Min(config.ConnectTimeout, 3000);
        config.SyncTimeout = Math.Min(config.SyncTimeout, 3000);
        config.ConnectRetry = 1;
        _endpoints = string.Join(",", config.EndPoints.Select(e => e.ToString()));
        _redis = ConnectionMultiplexer.Connect(config);
        _prefix = options.KeyPrefix;
        _circuit = new StoreCircuit(Name, _ => Db.PingAsync(), e => e is RedisException, health ?? StoreHealth.Default);
    }

    public string Name => $"metadata (redis {_endpoints})";

    private IDatabase Db => _redis.GetDatabase();
    private RedisKey TagsKey(string repository) => _prefix + "tags:" + repository;
    private RedisKey ManifestKey(Digest digest) => _prefix + "manifest:" + digest;
    private RedisKey LinksKey(string repository) => _prefix + "links:" + repository;
    private RedisKey LinkedByKey(Digest digest) => _prefix + "linkedby:" + digest;

    public Task<TagRecord?> GetTagAsync(string repository, string tag, CancellationToken ct) => Guard(async () =>
    {
        var value = await Db.HashGetAsync(TagsKey(repository), tag);
        if (value.IsNullOrEmpty) return null;
        var parts = ((string)value!).Split('|');
        return new TagRecord(Digest.Parse(parts[0]), DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[1], CultureInfo.InvariantCulture)));
    });

    public Task PutTagAsync(string repository, string tag, TagRecord record, CancellationToken ct) => Guard(() =>
        Db.HashSetAsync(TagsKey(repository), tag, $"{record.Digest}|{record.FetchedAt.ToUnixTimeMilliseconds()}"));

    public Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken ct) => Guard(async () =>
        (IReadOnlyList<string>)(await Db.HashKeysAsync(TagsKey(repository))).Select(k => (string)k!).Order(StringComparer.Ordinal).ToList());

    public Task<StoredManifest?> GetManifestAsync(Digest digest, CancellationToken ct) => Guard(async () =>
    {
        var fields = await Db.HashGetAsync(ManifestKey(digest), ["t", "c"]);
        return fields[0].IsNull || fields[1].IsNull ? null : new StoredManifest(digest, fields[0]!, (byte[])fields[1]!);
    });

    public Task PutManifestAsync(StoredManifest manifest, CancellationToken ct) => Guard(() =>
        Db.HashSetAsync(ManifestKey(manifest.Digest), [new HashEntry("t", manifest.MediaType), new HashEntry("c", manifest.Content)]));

    public Task LinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct) => Guard(async () =>
    {
        // One key per command (Cluster-safe): the repository's links, then each digest's reverse link.
        await Db.SetAddAsync(LinksKey(repository), digests.Select(d => (RedisValue)d.ToString()).ToArray());
        foreach (var d in digests.Distinct()) await Db.SetAddAsync(LinkedByKey(d), repository);
    });

    public Task<bool> IsLinkedAsync(string repository, Digest digest, CancellationToken ct) => Guard(() =>
        Db.SetContainsAsync(LinksKey(repository), digest.ToString()));

    public Task<string?> CheckAsync(CancellationToken ct) => _circuit.CheckAsync(ct);

    /// <summary>The connection, for the blob-fill lease and other coordination between replicas.</summary>
    public IConnectionMultiplexer Connection => _redis;
    public string KeyPrefix => _prefix;

    /// <summary>This replica as the owner of the leases and locks it takes in Redis: host, process, and an id of this store.</summary>
    public string ReplicaName { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    /// <summary>One Redis call under the store's deadline and circuit.</summary>
    internal Task<T> Guard<T>(Func<Task<T>> operation, TimeSpan? timeout = null) => _circuit.RunAsync(_ => operation(), CancellationToken.None, timeout);

    internal Task Guard(Func<Task> operation) => Guard(async () =>
    {
        await operation();
        return true;
    });

    public void Dispose() => _redis.Dispose();
}

using CacheRegistry.Oci;
using CacheRegistry.Server.Storage;
using CacheRegistry.Server.Storage.Redis;
using CacheRegistry.Server.Storage.Sqlite;
using CacheRegistry.Storage;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Contracts;

/// <summary>What every metadata store must do; run against each implementation.</summary>
public abstract class MetadataStoreContract
{
    protected abstract IMetadataStore Store { get; }

    private static Digest D(char c) => Digest.Parse("sha256:" + new string(c, 64));
    private readonly string _repo = $"docker.io/library/r{Guid.NewGuid():N}";

    [Fact]
    public async Task Tags_keep_digest_and_fetched_at_and_can_move()
    {
        Assert.Null(await Store.GetTagAsync(_repo, "v1", default));
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_123);
        await Store.PutTagAsync(_repo, "v1", new TagRecord(D('a'), at), default);
        Assert.Equal(new TagRecord(D('a'), at), await Store.GetTagAsync(_repo, "v1", default));
        await Store.PutTagAsync(_repo, "v1", new TagRecord(D('b'), at.AddMinutes(5)), default);
        Assert.Equal(new TagRecord(D('b'), at.AddMinutes(5)), await Store.GetTagAsync(_repo, "v1", default));
        Assert.Null(await Store.GetTagAsync(_repo + "x", "v1", default));
    }

    [Fact]
    public async Task Pulled_tags_are_kept_with_their_last_availability_check()
    {
        var history = (IPullHistory)Store;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_123);
        await history.RecordPullsAsync([new((_repo, "old"), at.AddDays(-30)), new((_repo, "1.0"), at), new((_repo, "latest"), at.AddMinutes(1))], default);
        var pulled = (await history.PulledSinceAsync(at.AddDays(-7), default)).Where(p => p.Repository == _repo).ToList();
        Assert.Equal([new PulledTag(_repo, "1.0", at, null), new PulledTag(_repo, "latest", at.AddMinutes(1), null)], pulled);

        var check = new AvailabilityCheck(at.AddHours(1), "tag_gone", "upstream docker.io endpoint x answered 404");
        await history.RecordCheckAsync(_repo, "latest", check, default);
        await history.RecordPullsAsync([new((_repo, "latest"), at.AddHours(2))], default); // a later pull keeps the check
        pulled = (await history.PulledSinceAsync(at.AddDays(-7), default)).Where(p => p.Repository == _repo).ToList();
        Assert.Equal(new PulledTag(_repo, "latest", at.AddHours(2), check), pulled[1]);
    }

    [Fact]
    public async Task Tags_list_in_ordinal_order()
    {
        foreach (var t in new[] { "b", "a", "C", "10", "9" })
            await Store.PutTagAsync(_repo, t, new TagRecord(D('a'), DateTimeOffset.UnixEpoch), default);
        Assert.Equal(["10", "9", "C", "a", "b"], await Store.ListTagsAsync(_repo, default));
        Assert.Empty(await Store.ListTagsAsync(_repo + "x", default));
    }

    [Fact]
    public async Task Manifests_keep_their_exact_bytes_and_media_type()
    {
        var content = "{\"schemaVersion\":2}\n  "u8.ToArray();
        var digest = Digest.Sha256Of(content);
        Assert.Null(await Store.GetManifestAsync(digest, default));
        await Store.PutManifestAsync(new StoredManifest(digest, MediaTypes.OciIndex, content), default);
        var stored = await Store.GetManifestAsync(digest, default);
        Assert.Equal(MediaTypes.OciIndex, stored!.MediaType);
        Assert.Equal(content, stored.Content);
    }

    [Fact]
    public async Task The_blob_index_answers_a_recorded_size_until_the_blob_is_forgotten()
    {
        var index = (IBlobIndex)Store;
        var digest = Digest.Sha256Of(Guid.NewGuid().ToByteArray());
        Assert.Null(await index.RecordedSizeAsync(digest, default));
        await index.RecordBlobAsync(digest, 1234, DateTimeOffset.UtcNow, default);
        Assert.Equal(1234, await index.RecordedSizeAsync(digest, default));
        await index.ForgetBlobAsync(digest, default);
        Assert.Null(await index.RecordedSizeAsync(digest, default));
    }

    [Fact]
    public async Task Links_are_per_repository()
    {
        await Store.LinkAsync(_repo, [D('a'), D('b'), D('a')], default);
        Assert.True(await Store.IsLinkedAsync(_repo, D('a'), default));
        Assert.True(await Store.IsLinkedAsync(_repo, D('b'), default));
        Assert.False(await Store.IsLinkedAsync(_repo, D('c'), default));
        Assert.False(await Store.IsLinkedAsync(_repo + "x", D('a'), default));
    }

    [Fact]
    public async Task Unlinking_forgets_the_link_both_ways()
    {
        var other = _repo + "-other";
        await Store.LinkAsync(_repo, [D('a'), D('b')], default);
        await Store.LinkAsync(other, [D('a')], default);
        Assert.Equal([_repo, other], await Index.RepositoriesLinkingAsync(D('a'), default));
        await Catalog.UnlinkAsync(_repo, [D('a')], default);
        Assert.False(await Store.IsLinkedAsync(_repo, D('a'), default));
        Assert.True(await Store.IsLinkedAsync(_repo, D('b'), default));
        Assert.Equal([other], await Index.RepositoriesLinkingAsync(D('a'), default));
        Assert.Empty(await Index.RepositoriesLinkingAsync(D('c'), default));
    }

    [Fact]
    public async Task The_index_orders_blobs_by_last_access_which_never_goes_back()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);
        await Index.RecordBlobAsync(D('a'), 10, at, default);
        await Index.RecordBlobAsync(D('b'), 20, at.AddMinutes(1), default);
        await Index.RecordBlobAsync(D('c'), 30, at.AddMinutes(2), default);
        Assert.Equal((3, 60), await Index.TotalsAsync(default));
        await Index.TouchBlobsAsync([new(D('a'), at.AddMinutes(3))], default);
        // An older access (another replica's late flush, a repeated record) does not make a blob older.
        await Index.TouchBlobsAsync([new(D('b'), at)], default);
        await Index.RecordBlobAsync(D('c'), 30, at, default);
        Assert.Equal([new BlobRecord(D('b'), 20, at.AddMinutes(1)), new BlobRecord(D('c'), 30, at.AddMinutes(2)), new BlobRecord(D('a'), 10, at.AddMinutes(3))],
            await Index.OldestBlobsAsync(10, 0, default));
        Assert.Equal([new BlobRecord(D('c'), 30, at.AddMinutes(2))], await Index.OldestBlobsAsync(1, 1, default));
        await Index.ForgetBlobAsync(D('b'), default);
        Assert.Equal((2, 40), await Index.TotalsAsync(default));
        Assert.Equal([D('c'), D('a')], (await Index.OldestBlobsAsync(10, 0, default)).Select(b => b.Digest));
    }

    [Fact]
    public async Task The_catalog_lists_every_manifest_and_every_repository_with_tags_or_links()
    {
        var (one, two) = ("{\"a\":1}"u8.ToArray(), "{\"b\":2}"u8.ToArray());
        await Store.PutManifestAsync(new StoredManifest(Digest.Sha256Of(one), MediaTypes.OciManifest, one), default);
        await Store.PutManifestAsync(new StoredManifest(Digest.Sha256Of(two), MediaTypes.OciIndex, two), default);
        var all = new List<StoredManifest>();
        await foreach (var m in Catalog.AllManifestsAsync(default)) all.Add(m);
        Assert.Equal(new[] { one, two }.Select(c => Digest.Sha256Of(c).ToString()).Order(StringComparer.Ordinal), all.Select(m => m.DigestText).Order(StringComparer.Ordinal));
        await Catalog.DeleteManifestAsync(Digest.Sha256Of(one), default);
        Assert.Null(await Store.GetManifestAsync(Digest.Sha256Of(one), default));

        var (tagged, linked) = (_repo + "/tagged", _repo + "/linked");
        await Store.PutTagAsync(tagged, "v1", new TagRecord(D('a'), DateTimeOffset.UnixEpoch), default);
        await Store.PutTagAsync(tagged, "v2", new TagRecord(D('a'), DateTimeOffset.UnixEpoch), default);
        await Store.LinkAsync(linked, [D('a')], default);
        Assert.Equal([linked, tagged], (await Catalog.ListRepositoriesAsync(default)).Where(r => r.StartsWith(_repo, StringComparison.Ordinal)));
        await Catalog.DeleteTagAsync(tagged, "v1", default);
        Assert.Equal(["v2"], await Store.ListTagsAsync(tagged, default));
        await Catalog.DeleteTagAsync(tagged, "v2", default);
        Assert.Equal([linked], (await Catalog.ListRepositoriesAsync(default)).Where(r => r.StartsWith(_repo, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_ledger_reads_oldest_first_from_a_time_with_a_limit()
    {
        var ledger = (ILedger)Store;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);
        LedgerEntry Entry(int minutes, string? tag, Digest? subject = null) =>
            new(at.AddMinutes(minutes), "docker.io", _repo, tag, D('a'), MediaTypes.OciManifest, 123, "https://mirror.example", subject, subject is null ? null : "application/vnd.example");
        await ledger.AppendAsync(Entry(0, "v1"), default);
        await ledger.AppendAsync(Entry(1, null, D('b')), default);
        await ledger.AppendAsync(Entry(2, "v3"), default);
        var decision = Entry(3, "v4") with { Endpoint = "signature-policy", Check = new SignatureCheck("team", "verified", "sha256:" + new string('c', 64)) };
        await ledger.AppendAsync(decision, default);
        Assert.Equal([Entry(0, "v1"), Entry(1, null, D('b')), Entry(2, "v3"), decision], await ledger.ReadAsync(null, 10, default));
        Assert.Equal([Entry(1, null, D('b'))], await ledger.ReadAsync(at.AddMinutes(1), 1, default));
    }

    [Fact]
    public async Task Admissions_are_kept_per_scope_and_the_first_reason_stays()
    {
        var admissions = (IAdmissions)Store;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);
        var scope = "team@0123456789abcdef " + _repo;
        Assert.Null(await admissions.GetAdmissionAsync(scope, D('a'), default));
        await admissions.AdmitAsync(scope, [new Admission(D('a'), "verified", "sha256:key", at), new Admission(D('b'), "image", null, at)], default);
        await admissions.AdmitAsync(scope, [new Admission(D('a'), "index", null, at.AddMinutes(1))], default);
        Assert.Equal(new Admission(D('a'), "verified", "sha256:key", at), await admissions.GetAdmissionAsync(scope, D('a'), default));
        Assert.Equal(new Admission(D('b'), "image", null, at), await admissions.GetAdmissionAsync(scope, D('b'), default));
        Assert.Null(await admissions.GetAdmissionAsync(scope + "x", D('a'), default));
        Assert.Null(await admissions.GetAdmissionAsync(scope, D('c'), default));
    }

    [Fact]
    public async Task A_reachable_store_reports_no_problem()
    {
        var probe = (IHealthProbe)Store;
        Assert.False(string.IsNullOrEmpty(probe.Name));
        Assert.Null(await probe.CheckAsync(default));
    }

    private IBlobIndex Index => (IBlobIndex)Store;
    private IMetadataCatalog Catalog => (IMetadataCatalog)Store;
}

public sealed class SqliteMetadataStoreContract : MetadataStoreContract, IDisposable
{
    private readonly string _dir = Net.TempDir("sqlite");
    private readonly SqliteMetadataStore _store;

    public SqliteMetadataStoreContract() => _store = new SqliteMetadataStore(_dir);
    protected override IMetadataStore Store => _store;

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

[Collection(IntegrationCollection.Name)]
public sealed class RedisMetadataStoreContract(BackendsFixture fx) : MetadataStoreContract, IDisposable
{
    private readonly RedisMetadataStore _store = new(new MetadataOptions { Configuration = fx.Redis.Configuration, KeyPrefix = $"t{Guid.NewGuid():N}:" });
    protected override IMetadataStore Store => _store;
    public void Dispose() => _store.Dispose();
}

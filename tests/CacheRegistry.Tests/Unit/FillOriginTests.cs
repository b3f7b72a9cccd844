using System.Net;
using CacheRegistry.Cache;
using CacheRegistry.Cluster;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage.FileSystem;
using CacheRegistry.Server.Storage.Sqlite;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CacheRegistry.Tests.Unit;

/// <summary>Each origin of a fill on its own: the stored copy, the upstream, another replica; time is a fake clock.</summary>
public sealed class FillOriginTests : IDisposable
{
    private static readonly byte[] Blob = [.. Enumerable.Range(0, 200).Select(i => (byte)i)];
    private static readonly Digest BlobDigest = Digest.Parse(StubHandler.DigestOf(Blob));
    private readonly string _dir = Infrastructure.Net.TempDir("origins");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private StoredCopyOrigin Stored(IBlobStore store, IBlobIndex index, Task<long?>? lookup = null) =>
        new(store, index, BlobDigest, null, lookup, _time, NullLogger.Instance);

    private static Task<OriginBody?> Body(byte[] bytes) =>
        Task.FromResult<OriginBody?>(new OriginBody(new MemoryStream(bytes), 0, bytes.Length, "test", "test"));

    [Fact]
    public async Task The_stored_copy_yields_to_nothing_when_the_starting_lookup_says_the_store_lacks_the_blob()
    {
        using var sqlite = new SqliteMetadataStore(_dir);
        var origin = Stored(new FileSystemBlobStore(_dir), sqlite, Task.FromResult<long?>(null));
        Assert.True(origin.HasPendingLookup);
        var lookup = origin.TakePendingLookup()!;
        Assert.False(origin.HasPendingLookup);
        Assert.Null(origin.TakePendingLookup()); // once

        using var body = await StoredCopyOrigin.UnlessStoredAsync(lookup, _ => Body(Blob), default);
        Assert.NotNull(body);
    }

    [Fact]
    public async Task A_store_answer_that_comes_first_and_holds_the_blob_drops_the_other_origin_and_cancels_it()
    {
        var lookup = new TaskCompletionSource<long?>();
        CancellationToken asked = default;
        var racing = StoredCopyOrigin.UnlessStoredAsync(lookup.Task, async ct =>
        {
            asked = ct;
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        }, default);
        lookup.SetResult(Blob.Length);
        Assert.Null(await racing);
        Assert.True(asked.IsCancellationRequested);
    }

    [Fact]
    public async Task An_origin_that_fails_does_not_keep_a_stored_blob_from_its_readers()
    {
        static Task<OriginBody?> Failing(CancellationToken _) => Task.FromException<OriginBody?>(new UpstreamException(UpstreamFailure.Timeout, "no answer"));
        var lookup = new TaskCompletionSource<long?>();
        var racing = StoredCopyOrigin.UnlessStoredAsync(lookup.Task, Failing, default);
        lookup.SetResult(Blob.Length);
        Assert.Null(await racing);

        // When the store does not hold it either, the origin's failure is the answer.
        await Assert.ThrowsAsync<UpstreamException>(() => StoredCopyOrigin.UnlessStoredAsync(Task.FromResult<long?>(null), Failing, default));
    }

    [Fact]
    public async Task A_blob_found_without_a_record_is_recorded_at_the_clocks_time_and_read_from_an_offset()
    {
        var store = new FileSystemBlobStore(_dir);
        using var sqlite = new SqliteMetadataStore(_dir);
        await StoreAsync(store);
        var origin = Stored(store, sqlite);
        Assert.Equal(Blob.Length, await origin.SizeAsync(default));

        await origin.RecordFoundAsync(Blob.Length);
        Assert.Equal(Blob.Length, await sqlite.RecordedSizeAsync(BlobDigest, default));
        var record = Assert.Single(await sqlite.OldestBlobsAsync(10, 0, default));
        Assert.Equal(_time.GetUtcNow(), record.LastAccess);

        using var body = await origin.OpenAsync(150, default);
        Assert.Equal(150, body!.From);
        Assert.Equal(Blob[150..], await ReadAllAsync(body.Body));
        Assert.Null(await Stored(new FileSystemBlobStore(Infrastructure.Net.TempDir("empty")), sqlite).OpenAsync(0, default));
    }

    [Fact]
    public async Task The_upstream_is_asked_from_an_offset_and_an_ignored_range_says_its_bytes_start_at_zero()
    {
        var ranges = new List<string?>();
        var handler = new StubHandler(request =>
        {
            ranges.Add(request.Headers.Range?.ToString());
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Blob) }; // Range ignored
        });
        var origin = new UpstreamOrigin(Stub.Repo(handler, _time), BlobDigest, CacheMetrics.Unobserved, _time);
        using var body = await origin.OpenAsync(50, default);
        Assert.Equal(["bytes=50-"], ranges);
        Assert.Equal(0, body!.From);
        Assert.Equal(Blob.Length, body.Total);
        Assert.True(body.ConfirmsLink);
        Assert.Contains("upstream docker.io endpoint registry.test", body.Source);
    }

    [Fact]
    public async Task A_resume_answered_from_a_later_byte_is_refused_as_corrupt()
    {
        var handler = new StubHandler(_ =>
        {
            var r = new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent(Blob[100..]) };
            r.Content.Headers.ContentRange = new System.Net.Http.Headers.ContentRangeHeaderValue(100, 199, 200);
            return r;
        });
        var origin = new UpstreamOrigin(Stub.Repo(handler, _time), BlobDigest, CacheMetrics.Unobserved, _time);
        var e = await Assert.ThrowsAsync<UpstreamException>(() => origin.OpenAsync(50, default));
        Assert.Equal(UpstreamFailure.Corrupt, e.Failure);
        Assert.Contains("answered a resume from byte 50", e.Message);
    }

    [Fact]
    public async Task A_turn_waits_for_a_fill_slot_and_is_refused_when_FillQueueWait_has_passed_on_the_clock()
    {
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Blob) });
        var plain = Stub.Repo(handler, _time);
        using var slots = new SemaphoreSlim(1);
        var client = new UpstreamClient("docker.io", new UpstreamOptions { Endpoints = ["https://registry.test"] }, new HttpClient(handler),
            new TimeoutOptions(), _time, NullLogger.Instance, resolve: Stub.Resolve)
        { FillSlots = slots, MaxConcurrentFills = 1, FillQueueWait = TimeSpan.FromSeconds(30) };
        var repo = new Routing.RepositoryRef(client, plain.Name);
        var first = new UpstreamOrigin(repo, BlobDigest, CacheMetrics.Unobserved, _time);
        var second = new UpstreamOrigin(repo, BlobDigest, CacheMetrics.Unobserved, _time);

        var held = await first.TakeTurnAsync(Blob.Length, 0, default);
        var waiting = second.TakeTurnAsync(Blob.Length, 0, default);
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(waiting.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(1));
        var refused = await Assert.ThrowsAsync<RegistryError>(() => waiting);
        Assert.Equal(503, refused.Status);
        Assert.Equal(30, refused.RetryAfterSeconds);

        // A slot given back goes to the next turn.
        held.Dispose();
        using var next = await second.TakeTurnAsync(Blob.Length, 0, default);
        Assert.Equal(0, slots.CurrentCount);
    }

    [Fact]
    public async Task Another_replica_is_asked_from_an_offset_and_a_replica_without_the_blob_is_nothing()
    {
        var peers = new ScriptedPeers();
        var origin = new ReplicaOrigin(peers, BlobDigest, "http://10.0.0.7:5000", "r7");
        Assert.Null(await origin.OpenAsync(0, default));

        peers.Has = true;
        using var body = await origin.OpenAsync(120, default);
        Assert.Equal(120, peers.From);
        Assert.Equal(120, body!.From);
        Assert.Equal(Blob.Length, body.Total);
        Assert.Equal("replica 10.0.0.7:5000", body.Endpoint);
        Assert.Equal("replica r7 (http://10.0.0.7:5000)", body.Source);
        Assert.False(body.ConfirmsLink); // a replica fills for some repository, not necessarily this one
        Assert.Equal(Blob[120..], await ReadAllAsync(body.Body));
    }

    private sealed class ScriptedPeers : IPeerFills
    {
        public bool Has { get; set; }
        public long From { get; private set; }

        [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The response belongs to the returned stream.")]
        public Task<PeerStream?> OpenAsync(string peerUrl, Digest digest, long from, CancellationToken ct)
        {
            From = from;
            return Task.FromResult(Has ? new PeerStream(new HttpResponseMessage(HttpStatusCode.OK), new MemoryStream(Blob[(int)from..]), Blob.Length) : null);
        }
    }

    private async Task StoreAsync(FileSystemBlobStore store)
    {
        var spools = new SpoolDirectory(_dir, StoreHealth.Default, clear: true);
        var spool = spools.Create(BlobDigest);
        await spool.AppendAsync(Blob, default);
        await using var writer = await store.BeginWriteAsync(BlobDigest, spool, default);
        await writer.CommitAsync(default);
    }

    private static async Task<byte[]> ReadAllAsync(Stream s)
    {
        using var copy = new MemoryStream();
        await s.CopyToAsync(copy);
        return copy.ToArray();
    }
}

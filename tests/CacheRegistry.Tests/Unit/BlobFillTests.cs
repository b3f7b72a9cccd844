using System.Net;
using System.Security.Cryptography;
using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage.FileSystem;
using CacheRegistry.Server.Storage.Sqlite;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

/// <summary>The fill's commit window, held open on purpose with the real filesystem and SQLite stores.</summary>
public sealed class BlobFillTests : IAsyncLifetime
{
    private readonly string _dir = Infrastructure.Net.TempDir("fill");
    private readonly List<RunningFills> _fills = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A fill goes on after its readers are done (commit, index, spool removal): the directory goes when the fills have ended.</summary>
    public async Task DisposeAsync()
    {
        foreach (var fills in _fills)
            await Infrastructure.Net.WaitUntilAsync(() => Task.FromResult(fills.Count == 0), TimeSpan.FromSeconds(10), "the test's fills to end");
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Holds LinkAsync (which runs right after the spool is renamed into place) until released.</summary>
    private sealed class GatedLinks(IMetadataStore inner) : IMetadataStore
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task LinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct)
        {
            Entered.TrySetResult();
            await Gate.Task;
            await inner.LinkAsync(repository, digests, ct);
        }

        public Task<TagRecord?> GetTagAsync(string repository, string tag, CancellationToken ct) => inner.GetTagAsync(repository, tag, ct);
        public Task PutTagAsync(string repository, string tag, TagRecord record, CancellationToken ct) => inner.PutTagAsync(repository, tag, record, ct);
        public Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken ct) => inner.ListTagsAsync(repository, ct);
        public Task<StoredManifest?> GetManifestAsync(Digest digest, CancellationToken ct) => inner.GetManifestAsync(digest, ct);
        public Task PutManifestAsync(StoredManifest manifest, CancellationToken ct) => inner.PutManifestAsync(manifest, ct);
        public Task<bool> IsLinkedAsync(string repository, Digest digest, CancellationToken ct) => inner.IsLinkedAsync(repository, digest, ct);
    }

    /// <summary>
    /// A response body that streams as it is written (HttpContent of an in-memory handler would be
    /// buffered whole): <paramref name="first"/>, then after <paramref name="gate"/> the rest, or a
    /// cut connection when <paramref name="second"/> is null. Without Content-Length when asked.
    /// </summary>
    private static HttpContent Streamed(byte[] first, byte[]? second, Task gate, bool announceLength)
    {
        var pipe = new System.IO.Pipelines.Pipe();
        _ = Task.Run(async () =>
        {
            await pipe.Writer.WriteAsync(first);
            await gate;
            if (second is null)
            {
                await pipe.Writer.CompleteAsync(new IOException("connection reset by peer"));
                return;
            }
            await pipe.Writer.WriteAsync(second);
            await pipe.Writer.CompleteAsync();
        });
        var content = new StreamContent(pipe.Reader.AsStream());
        if (announceLength) content.Headers.ContentLength = first.Length + (second?.Length ?? 0);
        return content;
    }

    private (RunningFills Fills, BackgroundWork Work) Fills(IMetadataStore? metadata = null, IBlobStore? store = null, IFillLease? lease = null,
        string maxBlobSize = "100GiB")
    {
        var sqlite = new SqliteMetadataStore(_dir);
        var options = new RegistryOptions { DataDir = _dir, MaxBlobSize = ByteSize.Parse(maxBlobSize), Fill = { ResumeBackoff = TimeSpan.FromMilliseconds(10) } };
        var work = new BackgroundWork();
        var fills = new RunningFills(store ?? new FileSystemBlobStore(_dir), metadata ?? sqlite, sqlite, lease ?? new LocalFillLease(),
            new SpoolDirectory(_dir, StoreHealth.Default, clear: true), work, options, TimeProvider.System, NullLogger<RunningFills>.Instance);
        _fills.Add(fills);
        return (fills, work);
    }

    /// <summary>The filesystem store, counting commits.</summary>
    private sealed class CountingStore(FileSystemBlobStore inner) : IBlobStore
    {
        public int Commits;
        public int SizeLookups;
        /// <summary>Size lookups answer once this completes.</summary>
        public Task SizeGate { get; set; } = Task.CompletedTask;

        public async Task<long?> GetSizeAsync(Digest digest, CancellationToken ct)
        {
            Interlocked.Increment(ref SizeLookups);
            await SizeGate.WaitAsync(ct);
            return await inner.GetSizeAsync(digest, ct);
        }
        public Task<Stream?> OpenReadAsync(Digest digest, long offset, long? length, CancellationToken ct) => inner.OpenReadAsync(digest, offset, length, ct);

        public async Task<IBlobWriter> BeginWriteAsync(Digest digest, Spool spool, CancellationToken ct) =>
            new Counted(await inner.BeginWriteAsync(digest, spool, ct), this);

        private sealed class Counted(IBlobWriter writer, CountingStore store) : IBlobWriter
        {
            public ValueTask SpoolGrewAsync(CancellationToken ct) => writer.SpoolGrewAsync(ct);
            public Task CommitAsync(CancellationToken ct)
            {
                Interlocked.Increment(ref store.Commits);
                return writer.CommitAsync(ct);
            }
            public ValueTask DisposeAsync() => writer.DisposeAsync();
        }
    }

    /// <summary>A lease that runs a callback when taken and can be lost on demand, as another replica would take it.</summary>
    private sealed class ScriptedLease(Func<Task>? onAcquire = null) : IFillLease, IHeldLease
    {
        public bool Lost { get; set; }
        public async Task<FillLeaseResult> TryAcquireAsync(Digest digest, CancellationToken ct)
        {
            if (onAcquire is not null) await onAcquire();
            return new FillLeaseResult(this, null);
        }
        public Task<bool> IsStillHeldAsync(CancellationToken ct) => Task.FromResult(!Lost);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>Puts a blob into the store, and into the index, the way another replica's commit would.</summary>
    /// <summary>Another replica's commit: the blob stored, its repository linked, the blob indexed.</summary>
    private async Task StoreElsewhereAsync(FileSystemBlobStore store, byte[] content, string repository = "docker.io/library/x")
    {
        var spools = new SpoolDirectory(Path.Combine(_dir, "elsewhere"), StoreHealth.Default, clear: true);
        await using var spool = spools.Create(Digest.Sha256Of(content));
        await using var writer = await store.BeginWriteAsync(Digest.Sha256Of(content), spool, default);
        await spool.AppendAsync(content, default);
        await writer.CommitAsync(default);
        using var index = new SqliteMetadataStore(_dir);
        await index.LinkAsync(repository, [Digest.Sha256Of(content)], default);
        await index.RecordBlobAsync(Digest.Sha256Of(content), content.Length, DateTimeOffset.UtcNow, default);
    }

    private static FillReader Reader(BlobFill fill, long offset = 0, long? end = null) =>
        new(fill, offset, end, (_, _, _) => throw new InvalidOperationException("no pass-through expected"));

    private static async Task<byte[]> ReadAllAsync(Stream reader)
    {
        using var copy = new MemoryStream();
        await reader.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task A_reader_opening_between_rename_and_commit_reads_the_committed_blob()
    {
        var content = RandomNumberGenerator.GetBytes(100_000);
        var digest = Digest.Sha256Of(content);
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) });
        using var sqlite = new SqliteMetadataStore(_dir);
        var gated = new GatedLinks(sqlite);
        var (fills, work) = Fills(metadata: gated);
        using var _ = work;

        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), digest, null);
        await gated.Entered.Task; // renamed into place, not yet marked committed
        await using var reader = Reader(fill);
        var reading = ReadAllAsync(reader);
        gated.Gate.SetResult();
        Assert.Equal(content, await reading);
        fill.Release();
    }

    [Fact]
    public async Task A_range_that_ends_before_the_blob_gets_its_last_byte_only_after_the_digest_matched()
    {
        var content = RandomNumberGenerator.GetBytes(200_000);
        var digest = Digest.Sha256Of(content);
        var corrupt = (byte[])content.Clone();
        corrupt[150_000] ^= 0xFF;
        var gate = new TaskCompletionSource();
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = Streamed(corrupt[..100_000], corrupt[100_000..], gate.Task, announceLength: true),
        });
        var (fills, work) = Fills();
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), digest, null);
        await fill.Started;

        // The range lies wholly in the bytes that arrived: all but its last byte flow at once; the
        // rest of the blob is let through only then, and does not hash to the digest.
        await using var reader = Reader(fill, 1000, 2000);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        var failure = await Record.ExceptionAsync(async () =>
        {
            int n;
            while ((n = await reader.ReadAsync(buffer)) > 0)
            {
                received.Write(buffer, 0, n);
                if (received.Length >= 999) gate.TrySetResult();
            }
        }).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsAssignableFrom<IOException>(failure);
        Assert.Equal(content[1000..1999], received.ToArray());
        Assert.Equal(FillOutcome.Failed, fill.Outcome);
        fill.Release();
    }

    [Fact]
    public async Task A_chunked_first_response_resumed_with_206_takes_the_size_from_Content_Range()
    {
        var content = RandomNumberGenerator.GetBytes(300_000);
        var digest = Digest.Sha256Of(content);
        var handler = new StubHandler(request =>
        {
            if (request.Headers.Range is null) return new HttpResponseMessage(HttpStatusCode.OK) { Content = Streamed(content[..120_000], null, Task.CompletedTask, announceLength: false) };
            var from = (int)request.Headers.Range.Ranges.Single().From!.Value;
            var partial = new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent(content[from..]) };
            partial.Content.Headers.ContentRange = new System.Net.Http.Headers.ContentRangeHeaderValue(from, content.Length - 1, content.Length);
            return partial;
        });
        var (fills, work) = Fills();
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), digest, null);
        await using var reader = Reader(fill);
        Assert.Equal(content, await ReadAllAsync(reader));
        Assert.Equal(1, fill.Resumes);
        fill.Release();
    }

    [Fact]
    public async Task A_blob_longer_than_its_manifest_declares_is_cut_at_that_size_and_nothing_is_kept()
    {
        var declared = RandomNumberGenerator.GetBytes(100_000);
        var digest = Digest.Sha256Of(declared);
        var endless = new byte[2_000_000]; // no Content-Length: only the manifest's size bounds it
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = Streamed(endless, [], Task.CompletedTask, announceLength: false) });
        var (fills, work) = Fills();
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), digest, declared.Length);
        await using var reader = Reader(fill);
        await Assert.ThrowsAnyAsync<IOException>(() => ReadAllAsync(reader));
        Assert.Contains("more than the 100000 bytes", fill.Failure!.Message);
        Assert.InRange(fill.Written, 0, declared.Length);
        fill.Release();
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_dir, "spool")));
    }

    [Fact]
    public async Task A_blob_of_unknown_size_is_cut_at_the_configured_maximum()
    {
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = Streamed(new byte[300_000], [], Task.CompletedTask, announceLength: false) });
        var (fills, work) = Fills(maxBlobSize: "100KB");
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), Digest.Sha256Of(new byte[1]), null);
        await using var reader = Reader(fill);
        await Assert.ThrowsAnyAsync<IOException>(() => ReadAllAsync(reader));
        Assert.Contains("Registry:MaxBlobSize", fill.Failure!.Message);
        Assert.InRange(fill.Written, 0, 100_000);
        fill.Release();
    }

    [Fact]
    public async Task A_blob_another_replica_committed_just_before_the_lease_was_taken_is_not_downloaded_again()
    {
        var content = RandomNumberGenerator.GetBytes(50_000);
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) });
        var fs = new FileSystemBlobStore(_dir);
        var (fills, work) = Fills(store: fs, lease: new ScriptedLease(() => StoreElsewhereAsync(fs, content)));
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), Digest.Sha256Of(content), null);
        Assert.Equal(content.Length, await fill.Started);
        await using (var reader = Reader(fill)) Assert.Equal(content, await ReadAllAsync(reader));
        Assert.Empty(handler.Requests);
        fill.Release();
    }

    [Fact]
    public async Task A_blob_another_replica_committed_for_another_repository_is_served_only_if_the_upstream_confirms_this_one()
    {
        var content = RandomNumberGenerator.GetBytes(50_000);
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.NotFound));
        var fs = new FileSystemBlobStore(_dir);
        var (fills, work) = Fills(store: fs, lease: new ScriptedLease(() => StoreElsewhereAsync(fs, content, repository: "docker.io/library/other")));
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), Digest.Sha256Of(content), null);
        var refused = await Assert.ThrowsAsync<RegistryError>(() => fill.Started);
        Assert.Equal("BLOB_UNKNOWN", refused.Code);
        Assert.Equal("HEAD", Assert.Single(handler.Requests).Method);
        fill.Release();
    }

    [Fact]
    public async Task A_fill_that_lost_its_lease_does_not_upload_what_another_replica_already_stored()
    {
        var content = RandomNumberGenerator.GetBytes(200_000);
        var gate = new TaskCompletionSource();
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = Streamed(content[..100_000], content[100_000..], gate.Task, announceLength: true) });
        var fs = new FileSystemBlobStore(_dir);
        var store = new CountingStore(fs);
        var lease = new ScriptedLease();
        var (fills, work) = Fills(store: store, lease: lease);
        using var _ = work;
        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), Digest.Sha256Of(content), null);
        await fill.Started;

        // This replica pauses past its lease; another takes it over and commits the same blob.
        lease.Lost = true;
        await StoreElsewhereAsync(fs, content);
        gate.SetResult();
        await using (var reader = Reader(fill)) Assert.Equal(content, await ReadAllAsync(reader));
        await Infrastructure.Net.WaitUntilAsync(() => Task.FromResult(fill.Outcome == FillOutcome.Committed), TimeSpan.FromSeconds(10), "the fill's end");
        Assert.Equal(0, store.Commits);
        fill.Release();
    }

    private BlobCache Blobs(IBlobStore store, SqliteMetadataStore sqlite, RunningFills fills, HotCache hot, RegistryOptions options) =>
        new(store, sqlite, sqlite, fills, new SpoolDirectory(Path.Combine(_dir, "requests"), StoreHealth.Default, clear: true), hot,
            new AccessTracker(TimeProvider.System), new NegativeCache(hot, options, TimeProvider.System), options);

    [Fact]
    public async Task In_a_cluster_a_blob_the_index_has_no_record_of_streams_before_the_store_has_answered()
    {
        var content = RandomNumberGenerator.GetBytes(100_000);
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) });
        var storeAnswers = new TaskCompletionSource();
        var store = new CountingStore(new FileSystemBlobStore(_dir)) { SizeGate = storeAnswers.Task };
        var (fills, work) = Fills(store: store);
        using var _ = work;
        var options = new RegistryOptions { DataDir = _dir, Cluster = { AdvertiseUrl = "http://127.0.0.1:9", Secret = "unit-test-secret-0123456789" } };
        using var hot = new HotCache(options);
        using var sqlite = new SqliteMetadataStore(_dir);
        var blobs = Blobs(store, sqlite, fills, hot, options);

        using var source = await blobs.OpenAsync(Stub.Repo(handler, TimeProvider.System), Digest.Sha256Of(content), default).WaitAsync(TimeSpan.FromSeconds(10));
        await using (var reader = await source.OpenAsync(0, null, default)) Assert.Equal(content, await ReadAllAsync(reader).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(CacheOutcome.Miss, source.Outcome);
        storeAnswers.SetResult();
        Assert.Single(handler.Requests);
    }

    [Fact]
    public async Task A_request_for_a_blob_being_filled_here_joins_the_fill_without_asking_the_store()
    {
        var content = RandomNumberGenerator.GetBytes(100_000);
        var gate = new TaskCompletionSource();
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = Streamed(content[..50_000], content[50_000..], gate.Task, announceLength: true) });
        var store = new CountingStore(new FileSystemBlobStore(_dir));
        var (fills, work) = Fills(store: store);
        using var _ = work;
        var options = new RegistryOptions { DataDir = _dir };
        using var hot = new HotCache(options);
        using var sqlite = new SqliteMetadataStore(_dir);
        var blobs = Blobs(store, sqlite, fills, hot, options);
        var repo = Stub.Repo(handler, TimeProvider.System);

        using var first = await blobs.OpenAsync(repo, Digest.Sha256Of(content), default);
        var asked = store.SizeLookups;
        using var second = await blobs.OpenAsync(repo, Digest.Sha256Of(content), default);
        Assert.Equal((CacheOutcome.Miss, CacheOutcome.Joined), (first.Outcome, second.Outcome));
        Assert.Equal(asked, store.SizeLookups);
        gate.SetResult();
        await using var reader = await second.OpenAsync(0, null, default);
        Assert.Equal(content, await ReadAllAsync(reader));
        Assert.Single(handler.Requests);
    }
}

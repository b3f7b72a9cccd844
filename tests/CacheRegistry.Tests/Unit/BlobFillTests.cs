using System.Net;
using System.Security.Cryptography;
using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage;
using CacheRegistry.Server.Storage.FileSystem;
using CacheRegistry.Server.Storage.Redis;
using CacheRegistry.Server.Storage.S3;
using CacheRegistry.Server.Storage.Sqlite;
using CacheRegistry.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

/// <summary>The fill's commit window, held open on purpose with the real filesystem and SQLite stores.</summary>
public sealed class BlobFillTests : IDisposable
{
    private readonly string _dir = Infrastructure.Net.TempDir("fill");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

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

    [Fact]
    public async Task A_reader_opening_between_rename_and_commit_reads_the_committed_blob()
    {
        var content = RandomNumberGenerator.GetBytes(100_000);
        var digest = Digest.Sha256Of(content);
        var handler = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) });
        using var sqlite = new SqliteMetadataStore(_dir);
        var gated = new GatedLinks(sqlite);
        var options = new RegistryOptions { DataDir = _dir };
        using var work = new BackgroundWork();
        var fills = new RunningFills(new FileSystemBlobStore(_dir), gated, sqlite, new LocalFillLease(), new SpoolDirectory(_dir, TimeProvider.System, clear: true),
            work, options, TimeProvider.System, NullLogger<RunningFills>.Instance);

        var (fill, _) = fills.GetOrStart(Stub.Repo(handler, TimeProvider.System), digest);
        await gated.Entered.Task; // renamed into place, not yet marked committed
        var opening = fill.OpenReaderAsync(0, default);
        gated.Gate.SetResult();

        await using var reader = await opening;
        using var copy = new MemoryStream();
        await reader.CopyToAsync(copy);
        Assert.Equal(content, copy.ToArray());
    }
}

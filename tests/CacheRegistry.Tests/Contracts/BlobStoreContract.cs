using System.Security.Cryptography;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage.FileSystem;
using CacheRegistry.Server.Storage.S3;
using CacheRegistry.Storage;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Contracts;

/// <summary>What every blob store must do; run against each implementation.</summary>
public abstract class BlobStoreContract : IDisposable
{
    private readonly string _spoolRoot = Net.TempDir("spools");
    private readonly SpoolDirectory _spools;

    protected BlobStoreContract() => _spools = new SpoolDirectory(_spoolRoot, StoreHealth.Default, clear: true);

    protected abstract IBlobStore Store { get; }

    public virtual void Dispose() => Directory.Delete(_spoolRoot, recursive: true);

    private static (byte[] Bytes, Digest Digest) RandomBlob(int size)
    {
        var bytes = RandomNumberGenerator.GetBytes(size);
        return (bytes, Digest.Sha256Of(bytes));
    }

    private async Task WriteAsync(byte[] bytes, Digest digest, bool commit)
    {
        await using var spool = _spools.Create(digest);
        await using var writer = await Store.BeginWriteAsync(digest, spool, default);
        for (var offset = 0; offset < bytes.Length; offset += 1024 * 1024)
        {
            await spool.AppendAsync(bytes.AsMemory(offset, Math.Min(1024 * 1024, bytes.Length - offset)), default);
            await writer.SpoolGrewAsync(default);
        }
        if (commit) await writer.CommitAsync(default);
    }

    private async Task<byte[]> ReadAsync(Digest digest, long offset = 0, long? length = null)
    {
        await using var stream = await Store.OpenReadAsync(digest, offset, length, default) ?? throw new InvalidOperationException("blob not found");
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return length is long n ? copy.ToArray()[..(int)n] : copy.ToArray();
    }

    [Fact]
    public async Task A_committed_blob_reads_back_hashing_to_its_digest()
    {
        var (bytes, digest) = RandomBlob(12 * 1024 * 1024 + 17); // several multipart parts on S3
        Assert.Null(await Store.GetSizeAsync(digest, default));
        await WriteAsync(bytes, digest, commit: true);
        Assert.Equal(bytes.Length, await Store.GetSizeAsync(digest, default));
        Assert.True(digest.MatchesContent(await ReadAsync(digest)));
    }

    [Fact]
    public async Task Range_reads_return_the_right_bytes()
    {
        var (bytes, digest) = RandomBlob(300_000);
        await WriteAsync(bytes, digest, commit: true);
        Assert.Equal(bytes[1000..1100], await ReadAsync(digest, 1000, 100));
        Assert.Equal(bytes[299_990..], await ReadAsync(digest, 299_990));
    }

    [Fact]
    public async Task An_aborted_write_leaves_nothing_visible()
    {
        var (bytes, digest) = RandomBlob(6 * 1024 * 1024);
        await WriteAsync(bytes, digest, commit: false);
        Assert.Null(await Store.GetSizeAsync(digest, default));
        Assert.Null(await Store.OpenReadAsync(digest, 0, null, default));
    }

    [Fact]
    public async Task Two_concurrent_writers_of_one_digest_end_with_one_good_object()
    {
        var (bytes, digest) = RandomBlob(7 * 1024 * 1024);
        await Task.WhenAll(WriteAsync(bytes, digest, commit: true), WriteAsync(bytes, digest, commit: true));
        Assert.Equal(bytes.Length, await Store.GetSizeAsync(digest, default));
        Assert.True(digest.MatchesContent(await ReadAsync(digest)));
    }

    [Fact]
    public async Task The_inventory_lists_committed_blobs_and_a_delete_leaves_open_readers_their_bytes()
    {
        var inventory = (IBlobInventory)Store;
        var (kept, keptDigest) = RandomBlob(100_000);
        var (gone, goneDigest) = RandomBlob(6 * 1024 * 1024 + 5);
        var (_, unfinished) = RandomBlob(10);
        await WriteAsync(kept, keptDigest, commit: true);
        await WriteAsync(gone, goneDigest, commit: true);
        await WriteAsync(new byte[10], unfinished, commit: false);

        var listed = await inventory.ListAsync(default).ToListAsync();
        Assert.Equal(new[] { (keptDigest, 100_000L), (goneDigest, gone.LongLength) }.OrderBy(b => b.Item1.ToString()),
            listed.Select(b => (b.Digest, b.Size)).OrderBy(b => b.Digest.ToString()));
        Assert.All(listed, b => Assert.InRange(b.Written, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5)));

        await using (var reader = await Store.OpenReadAsync(goneDigest, 0, null, default))
        {
            await inventory.DeleteAsync(goneDigest, default);
            using var copy = new MemoryStream();
            await reader!.CopyToAsync(copy);
            Assert.True(goneDigest.MatchesContent(copy.ToArray()));
        }
        Assert.Null(await Store.GetSizeAsync(goneDigest, default));
        Assert.Null(await Store.OpenReadAsync(goneDigest, 0, null, default));
        Assert.Equal([keptDigest], await inventory.ListAsync(default).Select(b => b.Digest).ToListAsync());
        await inventory.DeleteAsync(goneDigest, default); // deleting what is gone is no error
    }

    [Fact]
    public async Task Nothing_is_visible_before_commit_and_no_spool_file_is_left_after()
    {
        var (bytes, digest) = RandomBlob(64 * 1024);
        await using (var spool = _spools.Create(digest))
        {
            await using var writer = await Store.BeginWriteAsync(digest, spool, default);
            await spool.AppendAsync(bytes, default);
            await writer.SpoolGrewAsync(default);
            Assert.Null(await Store.GetSizeAsync(digest, default));
            await writer.CommitAsync(default);
        }
        Assert.Equal(bytes.Length, await Store.GetSizeAsync(digest, default));
        await WriteAsync(bytes, RandomBlob(10).Digest, commit: false);
        Assert.Empty(Directory.EnumerateFiles(_spools.Path));
    }
}

public sealed class FileSystemBlobStoreContract : BlobStoreContract
{
    private readonly string _dir = Net.TempDir("fs");
    private readonly FileSystemBlobStore _store;

    public FileSystemBlobStoreContract() => _store = new FileSystemBlobStore(_dir);
    protected override IBlobStore Store => _store;

    public override void Dispose()
    {
        base.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

[Collection(IntegrationCollection.Name)]
public sealed class S3BlobStoreContract(BackendsFixture fx) : BlobStoreContract
{
    private readonly S3BlobStore _store = new(fx.S3.Options(prefix: $"contract-{Guid.NewGuid():N}/"), NullLogger<S3BlobStore>.Instance);

    protected override IBlobStore Store => _store;

    public override void Dispose()
    {
        base.Dispose();
        _store.Dispose();
    }
}

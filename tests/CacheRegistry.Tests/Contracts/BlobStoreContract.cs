using System.Security.Cryptography;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage;
using CacheRegistry.Server.Storage.FileSystem;
using CacheRegistry.Server.Storage.Redis;
using CacheRegistry.Server.Storage.S3;
using CacheRegistry.Server.Storage.Sqlite;
using CacheRegistry.Storage;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Contracts;

/// <summary>What every blob store must do; run against each implementation.</summary>
public abstract class BlobStoreContract
{
    protected abstract IBlobStore Store { get; }

    private static (byte[] Bytes, Digest Digest) RandomBlob(int size)
    {
        var bytes = RandomNumberGenerator.GetBytes(size);
        return (bytes, Digest.Sha256Of(bytes));
    }

    private async Task WriteAsync(byte[] bytes, Digest digest, bool commit)
    {
        await using var writer = await Store.BeginWriteAsync(digest, default);
        for (var offset = 0; offset < bytes.Length; offset += 1024 * 1024)
            await writer.WriteAsync(bytes.AsMemory(offset, Math.Min(1024 * 1024, bytes.Length - offset)), default);
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
    public async Task Bytes_written_are_readable_from_the_local_path_before_commit()
    {
        var (bytes, digest) = RandomBlob(64 * 1024);
        await using var writer = await Store.BeginWriteAsync(digest, default);
        await writer.WriteAsync(bytes, default);
        Assert.NotNull(writer.LocalPath);
        await using (var spool = new FileStream(writer.LocalPath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            var read = new byte[bytes.Length];
            await spool.ReadExactlyAsync(read);
            Assert.Equal(bytes, read);
        }
        Assert.Null(await Store.GetSizeAsync(digest, default));
    }
}

public sealed class FileSystemBlobStoreContract : BlobStoreContract, IDisposable
{
    private readonly string _dir = Net.TempDir("fs");
    private readonly FileSystemBlobStore _store;

    public FileSystemBlobStoreContract() => _store = new FileSystemBlobStore(_dir);
    protected override IBlobStore Store => _store;
    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

[Collection(IntegrationCollection.Name)]
public sealed class S3BlobStoreContract : BlobStoreContract, IDisposable
{
    private readonly string _dir = Net.TempDir("s3spool");
    private readonly S3BlobStore _store;

    public S3BlobStoreContract(BackendsFixture fx)
    {
        _store = new S3BlobStore(fx.S3.Options(prefix: $"contract-{Guid.NewGuid():N}/"), _dir, NullLogger<S3BlobStore>.Instance);
    }

    protected override IBlobStore Store => _store;

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

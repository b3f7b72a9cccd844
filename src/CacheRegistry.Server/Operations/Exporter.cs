using System.Text.Json;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

/// <summary>
/// Writes images, pulled through the cache, as one OCI image layout tar: <c>oci-layout</c>,
/// <c>index.json</c> (each image named by its full reference in <c>org.opencontainers.image.ref.name</c>),
/// then every manifest and blob under <c>blobs/sha256/</c>. skopeo reads it as <c>oci-archive:FILE:REF</c>.
/// </summary>
internal sealed class Exporter(ImageWalker walker)
{
    public async Task<(int Images, int Blobs, long Bytes)> ExportAsync(IReadOnlyList<ImageReference> images, string? platform, Stream output,
        Action<string>? report, CancellationToken ct)
    {
        var contents = new List<ImageContent>();
        foreach (var image in images)
        {
            contents.Add(await walker.ResolveAsync(image, platform, ct));
            report?.Invoke($"resolved {image}");
        }
        var tar = new OciArchiveWriter(output);
        await tar.AddAsync("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), ct);
        var index = new
        {
            schemaVersion = 2,
            mediaType = MediaTypes.OciIndex,
            manifests = contents.Select(c => new
            {
                mediaType = c.Top.MediaType,
                digest = c.Top.Digest,
                size = c.Top.Content.Length,
                annotations = new Dictionary<string, string>
                {
                    ["org.opencontainers.image.ref.name"] = c.Reference.ToString(),
                    ["io.containerd.image.name"] = c.Reference.ToString(),
                },
            }),
        };
        await tar.AddAsync("index.json", JsonSerializer.SerializeToUtf8Bytes(index), ct);

        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var manifest in contents.SelectMany(c => c.Manifests))
            if (written.Add(manifest.Digest)) await tar.AddAsync(BlobName(manifest.Digest), manifest.Content, ct);
        long bytes = 0;
        var blobs = 0;
        foreach (var content in contents)
            foreach (var blob in content.Blobs)
            {
                if (!written.Add(blob.Digest)) continue;
                await tar.AddAsync(BlobName(blob.Digest), blob.Size, sink => walker.CopyBlobAsync(content.Reference, blob.Digest, sink, null, ct), ct);
                bytes += blob.Size;
                blobs++;
                report?.Invoke($"  [{blobs}] {blob.Digest[..19]}… {ByteSize.Format(blob.Size)} (total {ByteSize.Format(bytes)})");
            }
        await tar.FinishAsync(ct);
        return (contents.Count, blobs, bytes);
    }

    private static string BlobName(string digest) => "blobs/" + digest.Replace(':', '/');
}

using System.Text.Json;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

/// <summary>
/// Writes images, pulled through the cache, as one OCI image layout tar: <c>oci-layout</c>,
/// <c>index.json</c> (each image named by its full reference in <c>org.opencontainers.image.ref.name</c>),
/// then every manifest and blob under <c>blobs/sha256/</c>. skopeo reads it as <c>oci-archive:FILE:REF</c>.
/// Signatures and referrers come along under their tags (<c>sha256-&lt;hex&gt;</c>, <c>.sig</c>…), so an
/// air-gapped cache fed with the bundle answers cosign and admission policies.
/// </summary>
internal sealed class Exporter(ImageWalker walker)
{
    public async Task<(int Images, int Blobs, long Bytes)> ExportAsync(IReadOnlyList<ImageReference> images, string? platform, Stream output,
        Action<string>? report, CancellationToken ct)
    {
        var contents = new List<ImageContent>();
        foreach (var image in images)
        {
            contents.Add(await walker.ResolveAsync(image, platform, report, ct));
            report?.Invoke($"resolved {image}");
        }
        var tar = new OciArchiveWriter(output);
        await tar.AddAsync("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), ct);
        // Each image by its reference, and each signature tag and referrers index by its own.
        var named = contents.Select(c => (Name: c.Reference.ToString(), c.Top))
            .Concat(contents.SelectMany(c => c.Tagged.Select(t => (Name: (c.Reference with { Tag = t.Tag, Digest = null }).ToString(), Top: t.Manifest))))
            .DistinctBy(n => n.Name).ToList();
        var index = new
        {
            schemaVersion = 2,
            mediaType = MediaTypes.OciIndex,
            manifests = named.Select(n => new
            {
                mediaType = n.Top.MediaType,
                digest = n.Top.Digest,
                size = n.Top.Content.Length,
                annotations = new Dictionary<string, string>
                {
                    ["org.opencontainers.image.ref.name"] = n.Name,
                    ["io.containerd.image.name"] = n.Name,
                },
            }),
        };
        await tar.AddAsync("index.json", JsonSerializer.SerializeToUtf8Bytes(index), ct);

        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var manifest in contents.SelectMany(c => c.Manifests.Concat(c.Tagged.Select(t => t.Manifest))))
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

using System.Net.Http.Headers;
using System.Security.Cryptography;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

/// <summary>A manifest as fetched through the cache: exact bytes, media type, digest.</summary>
internal sealed record FetchedManifest(string Digest, string MediaType, byte[] Content);

/// <summary>A blob an image needs, with the size its manifest declares.</summary>
internal sealed record BlobRef(string Digest, long Size);

/// <summary>Everything an image is made of, for the platforms asked for.</summary>
internal sealed record ImageContent(ImageReference Reference, FetchedManifest Top, IReadOnlyList<FetchedManifest> Manifests, IReadOnlyList<BlobRef> Blobs);

/// <summary>
/// Pulls images through a cache over its own /v2 API (with the registry as path prefix), so warming,
/// scheduled sync and export go through the same fills, leases and logs as any client.
/// </summary>
internal sealed class ImageWalker(HttpClient http, Uri cache)
{
    /// <summary>The image's manifests and blobs; <paramref name="platform"/> (e.g. linux/amd64) narrows an index.</summary>
    public async Task<ImageContent> ResolveAsync(ImageReference image, string? platform, CancellationToken ct)
    {
        var top = await ManifestAsync(image, image.Reference, ct);
        var manifests = new List<FetchedManifest> { top };
        var images = new List<FetchedManifest>();
        if (MediaTypes.IsIndex(top.MediaType))
        {
            foreach (var entry in ManifestDocument.TryParse(top.Content)?.Manifests ?? [])
            {
                if (platform is not null && !entry.Platform.StartsWith(platform, StringComparison.Ordinal)) continue;
                var child = await ManifestAsync(image, entry.Digest.ToString(), ct);
                manifests.Add(child);
                images.Add(child);
            }
            if (images.Count == 0) throw new InvalidOperationException($"{image} has no manifest for platform {platform}");
        }
        else
        {
            images.Add(top);
        }
        var blobs = images.SelectMany(m => ManifestDocument.TryParse(m.Content)?.ImageBlobs ?? []).Select(b => new BlobRef(b.Digest.ToString(), b.Size))
            .DistinctBy(b => b.Digest).ToList();
        return new ImageContent(image, top, manifests, blobs);
    }

    public async Task<FetchedManifest> ManifestAsync(ImageReference image, string reference, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cache, $"/v2/{image.FullName}/manifests/{reference}"));
        foreach (var a in MediaTypes.ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(a));
        using var response = await http.SendAsync(request, ct);
        await EnsureSuccessAsync(response, $"{image.FullName}:{reference}", ct);
        var content = await response.Content.ReadAsByteArrayAsync(ct);
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        return new FetchedManifest(digest, MediaTypes.Bare(response.Content.Headers.ContentType?.ToString()), content);
    }

    /// <summary>Streams a blob into <paramref name="sink"/>, reporting bytes as they arrive; returns the byte count.</summary>
    public async Task<long> CopyBlobAsync(ImageReference image, string digest, Stream sink, Action<long>? progress, CancellationToken ct)
    {
        using var response = await http.GetAsync(new Uri(cache, $"/v2/{image.FullName}/blobs/{digest}"), HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureSuccessAsync(response, $"{image.FullName}@{digest}", ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer, ct)) > 0)
        {
            await sink.WriteAsync(buffer.AsMemory(0, n), ct);
            total += n;
            progress?.Invoke(n);
        }
        return total;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync(ct);
        throw new InvalidOperationException($"{what}: the cache answered {(int)response.StatusCode}: {body.Trim()}");
    }
}

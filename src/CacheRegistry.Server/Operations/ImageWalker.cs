using System.Net.Http.Headers;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

/// <summary>A manifest as fetched through the cache: exact bytes, media type, digest.</summary>
internal sealed record FetchedManifest(string Digest, string MediaType, byte[] Content);

/// <summary>A blob an image needs, with the size its manifest declares.</summary>
internal sealed record BlobRef(string Digest, long Size);

/// <summary>
/// Everything an image is made of, for the platforms asked for; <see cref="Tagged"/> holds what is
/// known by a tag of its own: the referrers index under the fallback tag, cosign's signature tags.
/// </summary>
internal sealed record ImageContent(ImageReference Reference, FetchedManifest Top, IReadOnlyList<FetchedManifest> Manifests, IReadOnlyList<BlobRef> Blobs,
    IReadOnlyList<(string Tag, FetchedManifest Manifest)> Tagged);

/// <summary>
/// Pulls images through a cache over its own /v2 API (with the registry as path prefix), so warming,
/// scheduled sync and export go through the same fills, leases and logs as any client. With
/// <see cref="Referrers"/> (the default) an image's signatures, attestations and SBOMs come along:
/// its referrers (two levels: a signature of an SBOM too) and cosign's <c>sha256-&lt;hex&gt;.sig/.att/.sbom</c> tags.
/// </summary>
internal sealed class ImageWalker(HttpClient http, Uri cache)
{
    private const int ReferrerDepth = 2;

    public bool Referrers { get; init; } = true;

    /// <summary>The image's manifests and blobs; <paramref name="platform"/> (e.g. linux/amd64) narrows an index.</summary>
    public async Task<ImageContent> ResolveAsync(ImageReference image, string? platform, Action<string>? report, CancellationToken ct)
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
        var tagged = new List<(string, FetchedManifest)>();
        if (Referrers)
        {
            var artifacts = await ReferrersAsync(image, Digest.Parse(top.Digest), manifests, tagged, report, ct);
            manifests.AddRange(artifacts);
            images.AddRange(artifacts);
        }
        var blobs = images.SelectMany(m => ManifestDocument.TryParse(m.Content)?.ImageBlobs ?? []).Select(b => new BlobRef(b.Digest.ToString(), b.Size))
            .DistinctBy(b => b.Digest).ToList();
        return new ImageContent(image, top, manifests, blobs, tagged);
    }

    /// <summary>
    /// What refers to <paramref name="subject"/>, and to those in turn: the referrers index (kept as
    /// the fallback tag, so an offline cache fed from a bundle still answers the referrers API) and
    /// cosign's tags. An image without any costs four small requests, answered 404 and then remembered.
    /// </summary>
    private async Task<List<FetchedManifest>> ReferrersAsync(ImageReference image, Digest subject, List<FetchedManifest> known,
        List<(string, FetchedManifest)> tagged, Action<string>? report, CancellationToken ct)
    {
        var seen = known.Select(m => m.Digest).ToHashSet(StringComparer.Ordinal);
        var found = new List<FetchedManifest>();
        var queue = new Queue<(Digest Subject, int Depth)>([(subject, 0)]);
        while (queue.TryDequeue(out var next))
        {
            var index = await OptionalAsync(image, $"referrers/{next.Subject}", null, report, ct);
            var referrers = index is null ? [] : ManifestDocument.TryParse(index.Content)?.Manifests ?? [];
            if (referrers.Count > 0) tagged.Add((Referrer.FallbackTag(next.Subject), index! with { MediaType = MediaTypes.OciIndex }));
            foreach (var r in referrers)
            {
                if (!seen.Add(r.Digest.ToString())) continue;
                found.Add(await ManifestAsync(image, r.Digest.ToString(), ct));
                if (next.Depth + 1 < ReferrerDepth) queue.Enqueue((r.Digest, next.Depth + 1));
            }
            if (next.Depth > 0) continue;
            foreach (var tag in Referrer.Tags(next.Subject).Skip(1))
            {
                if (await OptionalAsync(image, $"manifests/{tag}", MediaTypes.ManifestAccept, report, ct) is not { } signature) continue;
                tagged.Add((tag, signature));
                if (seen.Add(signature.Digest)) found.Add(signature);
            }
        }
        if (found.Count > 0) report?.Invoke($"{image}: {found.Count} signatures, attestations and other referrers");
        return found;
    }

    public async Task<FetchedManifest> ManifestAsync(ImageReference image, string reference, CancellationToken ct) =>
        await GetAsync(image, $"manifests/{reference}", MediaTypes.ManifestAccept, optional: false, ct)
        ?? throw new InvalidOperationException($"{image.FullName}:{reference}: not found");

    // Signatures are looked for, not required: a 404 means there are none, another failure is reported and skipped.
    private async Task<FetchedManifest?> OptionalAsync(ImageReference image, string path, IReadOnlyList<string>? accept, Action<string>? report, CancellationToken ct)
    {
        try
        {
            return await GetAsync(image, path, accept, optional: true, ct);
        }
        catch (InvalidOperationException e)
        {
            report?.Invoke($"warning: {e.Message}; carried on without it");
            return null;
        }
    }

    private async Task<FetchedManifest?> GetAsync(ImageReference image, string path, IReadOnlyList<string>? accept, bool optional, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(cache, $"/v2/{image.FullName}/{path}"));
        foreach (var a in accept ?? []) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(a));
        using var response = await http.SendAsync(request, ct);
        if (optional && response.StatusCode == System.Net.HttpStatusCode.NotFound) return null;
        await EnsureSuccessAsync(response, $"{image.FullName} {path}", ct);
        var content = await response.Content.ReadAsByteArrayAsync(ct);
        return new FetchedManifest(Digest.OfManifest(content).ToString(), MediaTypes.Bare(response.Content.Headers.ContentType?.ToString()), content);
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
        var hint = response.StatusCode == System.Net.HttpStatusCode.Unauthorized
            ? " (the cache has a login: pass --creds USER:PASSWORD, --creds-file FILE or CACHEREGISTRY_CREDS)" : "";
        throw new InvalidOperationException($"{what}: the cache answered {(int)response.StatusCode}: {body.Trim()}{hint}");
    }
}

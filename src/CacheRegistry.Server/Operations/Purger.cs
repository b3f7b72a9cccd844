using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Operations;

/// <summary>
/// Purges an image: its tag (or every tag pointing at the digest), the repository's links to its
/// manifests, and manifests no other repository links, on every replica. Blobs go with the next GC once nothing references them.
/// </summary>
internal sealed class Purger(IMetadataStore metadata, IMetadataCatalog catalog, IBlobIndex index, HotCache hot, UpstreamRouter router,
    IEnumerable<IPurgeNotifier> replicas)
{
    public async Task<int> PurgeAsync(ImageReference image, CancellationToken ct)
    {
        // The cache key a pull uses: k8s.gcr.io/pause is registry.k8s.io/pause.
        var repository = router.Resolve(image).Key;
        Digest top;
        if (image.Digest is not null) top = Digest.Parse(image.Digest);
        else if (await metadata.GetTagAsync(repository, image.Tag!, ct) is { } record) top = record.Digest;
        else return 0;

        foreach (var tag in await metadata.ListTagsAsync(repository, ct))
            if ((await metadata.GetTagAsync(repository, tag, ct))?.Digest == top)
                await catalog.DeleteTagAsync(repository, tag, ct);
        var manifests = new List<Digest> { top };
        if (await metadata.GetManifestAsync(top, ct) is { } m && MediaTypes.IsIndex(m.MediaType))
            manifests.AddRange(ManifestDocument.TryParse(m.Content)?.Manifests.Select(c => c.Digest) ?? []);
        await catalog.UnlinkAsync(repository, manifests, ct);
        foreach (var d in manifests)
            if ((await index.RepositoriesLinkingAsync(d, ct)).Count == 0) await catalog.DeleteManifestAsync(d, ct);
        hot.Clear();
        foreach (var notifier in replicas) await notifier.PublishAsync(ct);
        return manifests.Count;
    }
}

namespace CacheRegistry.Oci;

public static class MediaTypes
{
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>
    /// The one Accept list for manifests, sent upstream on every manifest request: without the four
    /// modern types distribution rewrites or hides manifests, which changes their digests.
    /// </summary>
    public static readonly string[] ManifestAccept = [OciIndex, OciManifest, DockerManifestList, DockerManifest, DockerSchema1Signed, DockerSchema1];

    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsKnownManifest(string mediaType) =>
        mediaType is DockerManifest or DockerManifestList or OciManifest or OciIndex or DockerSchema1 or DockerSchema1Signed;

    /// <summary>Content types that say nothing about the body, so the body's own mediaType decides.</summary>
    public static bool IsGeneric(string contentType) =>
        contentType is "" or "application/json" or "text/plain" or "application/octet-stream" or "binary/octet-stream";

    /// <summary>Drops parameters such as <c>; charset=utf-8</c>.</summary>
    public static string Bare(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType)) return "";
        var semicolon = contentType.IndexOf(';');
        return (semicolon < 0 ? contentType : contentType[..semicolon]).Trim();
    }
}

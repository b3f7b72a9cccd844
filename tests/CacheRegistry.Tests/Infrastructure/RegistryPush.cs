using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// Pushes blobs and manifests of any media type straight over the distribution API, for content
/// skopeo does not make: OCI artifacts (Helm charts, SBOMs), manifests with a subject, fallback
/// referrer tags.
/// </summary>
public static class RegistryPush
{
    public static string DigestOf(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    public static async Task<string> BlobAsync(string registryUrl, string repository, byte[] content)
    {
        using var http = Net.NewHttpClient();
        using var start = await http.PostAsync($"{registryUrl}/v2/{repository}/blobs/uploads/", null);
        start.EnsureSuccessStatusCode();
        var location = start.Headers.Location!;
        var upload = location.IsAbsoluteUri ? location : new Uri(new Uri(registryUrl), location);
        var digest = DigestOf(content);
        var put = new UriBuilder(upload) { Query = (upload.Query.Length > 1 ? upload.Query[1..] + "&" : "") + "digest=" + Uri.EscapeDataString(digest) }.Uri;
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        (await http.PutAsync(put, body)).EnsureSuccessStatusCode();
        return digest;
    }

    public static async Task<(string Digest, int Size)> ManifestAsync(string registryUrl, string repository, string reference, byte[] manifest, string mediaType)
    {
        using var http = Net.NewHttpClient();
        using var body = new ByteArrayContent(manifest);
        body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await http.PutAsync($"{registryUrl}/v2/{repository}/manifests/{reference}", body);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"PUT manifest {reference}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (DigestOf(manifest), manifest.Length);
    }

    /// <summary>
    /// An OCI artifact (an image manifest with an artifactType and the empty config) holding
    /// <paramref name="layers"/>, optionally referring to <paramref name="subject"/>; pushed under
    /// <paramref name="reference"/>, or by its digest when that is null.
    /// </summary>
    public static Task<(string Digest, int Size, byte[] Manifest)> ArtifactAsync(string registryUrl, string repository, string? reference, string artifactType,
        IReadOnlyList<(string MediaType, byte[] Content)> layers, (string Digest, int Size, string MediaType)? subject = null) =>
        ImageAsync(registryUrl, repository, reference, ("application/vnd.oci.empty.v1+json", "{}"u8.ToArray()), layers, artifactType, subject);

    /// <summary>An OCI image manifest over a config and layers of any media type (a Helm chart, a zstd image).</summary>
    public static async Task<(string Digest, int Size, byte[] Manifest)> ImageAsync(string registryUrl, string repository, string? reference,
        (string MediaType, byte[] Content) config, IReadOnlyList<(string MediaType, byte[] Content)> layers, string? artifactType = null,
        (string Digest, int Size, string MediaType)? subject = null)
    {
        var configDigest = await BlobAsync(registryUrl, repository, config.Content);
        var layerDescriptors = new List<object>();
        foreach (var (mediaType, content) in layers)
            layerDescriptors.Add(new { mediaType, digest = await BlobAsync(registryUrl, repository, content), size = content.Length });
        var manifest = new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new { mediaType = config.MediaType, digest = configDigest, size = config.Content.Length },
            ["layers"] = layerDescriptors,
        };
        if (artifactType is not null) manifest["artifactType"] = artifactType;
        if (subject is { } s) manifest["subject"] = new { mediaType = s.MediaType, digest = s.Digest, size = s.Size };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(manifest);
        var (digest, size) = await ManifestAsync(registryUrl, repository, reference ?? DigestOf(bytes), bytes, "application/vnd.oci.image.manifest.v1+json");
        return (digest, size, bytes);
    }

    /// <summary>The fallback referrers tag <c>sha256-&lt;hex&gt;</c> of <paramref name="subject"/>: an index of its referrers, as oras and cosign write it.</summary>
    public static Task<(string Digest, int Size)> FallbackTagAsync(string registryUrl, string repository, string subject,
        IEnumerable<(string Digest, int Size, string ArtifactType)> referrers)
    {
        var index = JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2,
            mediaType = "application/vnd.oci.image.index.v1+json",
            manifests = referrers.Select(r => new { mediaType = "application/vnd.oci.image.manifest.v1+json", digest = r.Digest, size = r.Size, artifactType = r.ArtifactType }),
        });
        return ManifestAsync(registryUrl, repository, subject.Replace(':', '-'), index, "application/vnd.oci.image.index.v1+json");
    }

    public static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);
}

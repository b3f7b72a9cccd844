using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CacheRegistry.Tests.Infrastructure;

public enum ImageFormat { Oci, Docker }

/// <summary>
/// An image the tests build as an OCI image layout: real gzip'd tar layers (containerd and dockerd
/// unpack them), a config whose diff_ids match, one manifest per platform and, for several
/// platforms, an index (OCI) or manifest list (Docker). Every image has content of its own.
/// </summary>
public sealed class TestImage
{
    public required string Repository { get; init; }
    public required string Tag { get; init; }
    public required string LayoutDir { get; init; }
    /// <summary>Digest and media type of what the tag points at (the index for multi-platform images).</summary>
    public required string Digest { get; init; }
    public required string MediaType { get; init; }
    /// <summary>Manifests by platform ("linux/amd64") with their layer and config digests.</summary>
    public required IReadOnlyDictionary<string, (string Manifest, IReadOnlyList<string> Blobs)> Platforms { get; init; }

    public IEnumerable<string> AllBlobs => Platforms.Values.SelectMany(p => p.Blobs).Distinct();

    public static TestImage Build(string repository, string tag, ImageFormat format, string[] platforms, int[] layerSizes, string dir)
    {
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        var docker = format == ImageFormat.Docker;
        var byPlatform = new Dictionary<string, (string, IReadOnlyList<string>)>();
        var descriptors = new List<object>();
        foreach (var platform in platforms)
        {
            var (os, arch) = (platform.Split('/')[0], platform.Split('/')[1]);
            var layers = layerSizes.Select(size => WriteLayer(dir, size)).ToList();
            var config = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
            {
                architecture = arch,
                os,
                created = "2026-01-01T00:00:00Z",
                config = new { Labels = new Dictionary<string, string> { ["test.image"] = $"{repository}:{tag}:{Guid.NewGuid():N}" } },
                rootfs = new { type = "layers", diff_ids = layers.Select(l => l.DiffId).ToArray() },
            }));
            var configDigest = WriteBlob(dir, config);
            var manifestType = docker ? "application/vnd.docker.distribution.manifest.v2+json" : "application/vnd.oci.image.manifest.v1+json";
            var manifest = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
            {
                schemaVersion = 2,
                mediaType = manifestType,
                config = new
                {
                    mediaType = docker ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json",
                    digest = configDigest,
                    size = config.Length,
                },
                layers = layers.Select(l => new
                {
                    mediaType = docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : "application/vnd.oci.image.layer.v1.tar+gzip",
                    digest = l.Digest,
                    size = l.Size,
                }).ToArray(),
            }));
            var manifestDigest = WriteBlob(dir, manifest);
            byPlatform[platform] = (manifestDigest, [configDigest, .. layers.Select(l => l.Digest)]);
            descriptors.Add(new { mediaType = manifestType, digest = manifestDigest, size = manifest.Length, platform = new { architecture = arch, os } });
        }

        string topDigest, topType;
        long topSize;
        if (platforms.Length == 1)
        {
            topDigest = byPlatform.Values.Single().Item1;
            topType = docker ? "application/vnd.docker.distribution.manifest.v2+json" : "application/vnd.oci.image.manifest.v1+json";
            topSize = new FileInfo(BlobPath(dir, topDigest)).Length;
        }
        else
        {
            topType = docker ? "application/vnd.docker.distribution.manifest.list.v2+json" : "application/vnd.oci.image.index.v1+json";
            var index = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { schemaVersion = 2, mediaType = topType, manifests = descriptors }));
            topDigest = WriteBlob(dir, index);
            topSize = index.Length;
        }
        // skopeo's oci: transport looks up only OCI-typed descriptors (it reads the real type from the
        // content) and will not push a Docker manifest list unchanged: for those, the layout names each
        // platform's manifest and PushAsync PUTs the list itself.
        var refs = docker && platforms.Length > 1
            ? byPlatform.Select(p => (Name: PlatformTag(tag, p.Key), Digest: p.Value.Item1, Type: "application/vnd.oci.image.manifest.v1+json",
                Size: new FileInfo(BlobPath(dir, p.Value.Item1)).Length)).ToList()
            : [(Name: tag, Digest: topDigest, Type: platforms.Length == 1 ? "application/vnd.oci.image.manifest.v1+json" : "application/vnd.oci.image.index.v1+json", Size: topSize)];
        File.WriteAllText(Path.Combine(dir, "index.json"), JsonSerializer.Serialize(new
        {
            schemaVersion = 2,
            manifests = refs.Select(r => new
            {
                mediaType = r.Type, digest = r.Digest, size = r.Size,
                annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = r.Name },
            }).ToArray(),
        }));
        return new TestImage { Repository = repository, Tag = tag, LayoutDir = dir, Digest = topDigest, MediaType = topType, Platforms = byPlatform };
    }

    /// <summary>Pushes the layout to a registry with skopeo, keeping every digest.</summary>
    public async Task PushAsync(string registryAddress, string? credentials = null)
    {
        if (MediaType != "application/vnd.docker.distribution.manifest.list.v2+json")
        {
            await SkopeoCopyAsync(Tag, $"{registryAddress}/{Repository}:{Tag}", credentials);
            return;
        }
        foreach (var platform in Platforms.Keys)
            await SkopeoCopyAsync(PlatformTag(Tag, platform), $"{registryAddress}/{Repository}:{PlatformTag(Tag, platform)}");
        using var http = Net.NewHttpClient();
        var content = new ByteArrayContent(await File.ReadAllBytesAsync(BlobPath(LayoutDir, Digest)));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(MediaType);
        using var response = await http.PutAsync($"http://{registryAddress}/v2/{Repository}/manifests/{Tag}", content);
        response.EnsureSuccessStatusCode();
    }

    private Task<string> SkopeoCopyAsync(string layoutRef, string destination, string? credentials = null) =>
        ProcessRunner.RunCheckedAsync(ProcessRunner.Require("skopeo"),
            ["copy", "--all", "--preserve-digests", "--quiet", "--dest-tls-verify=false", .. credentials is null ? Array.Empty<string>() : ["--dest-creds", credentials],
             $"oci:{LayoutDir}:{layoutRef}", $"docker://{destination}"]);

    private static string PlatformTag(string tag, string platform) => $"{tag}-{platform.Replace('/', '-')}";

    private static (string Digest, long Size, string DiffId) WriteLayer(string dir, int size)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var payload = new byte[size];
            RandomNumberGenerator.Fill(payload);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, $"payload-{Guid.NewGuid():N}.bin")
            {
                DataStream = new MemoryStream(payload),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                ModificationTime = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
            };
            writer.WriteEntry(entry);
        }
        var diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar.ToArray()));
        var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) tar.WriteTo(gzip);
        var bytes = gz.ToArray();
        return (WriteBlob(dir, bytes), bytes.Length, diffId);
    }

    private static string WriteBlob(string dir, byte[] content)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(BlobPath(dir, digest), content);
        return digest;
    }

    public static string BlobPath(string layoutDir, string digest) => Path.Combine(layoutDir, "blobs", "sha256", digest["sha256:".Length..]);
}

using System.Security.Cryptography;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A manifest pushed to the upstream: digest, size and exact bytes.</summary>
public sealed record Pushed(string Digest, int Size, byte[] Content);

/// <summary>
/// Content skopeo does not make, pushed once to the collection's upstream: a signed image (an OCI
/// 1.1 signature and SBOM with a <c>subject</c>, the fallback tag listing them, a cosign
/// <c>.sig</c> tag), five tags to page through, a Helm chart and an image with a zstd layer.
/// </summary>
public sealed class ArtifactSet
{
    public const string Repository = "conformance/app";
    public const string ChartRepository = "charts/demo";
    public const string ZstdRepository = "conformance/zstd";
    public const string SignatureType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    public const string SbomType = "application/spdx+json";
    public const string HelmConfigType = "application/vnd.cncf.helm.config.v1+json";
    public const string ZstdLayerType = "application/vnd.oci.image.layer.v1.tar+zstd";

    public static readonly string[] Tags = ["v1", "v2", "v3", "v4", "v5"];

    public required Pushed Image { get; init; }
    public required byte[] Layer { get; init; }
    public required string LayerDigest { get; init; }
    public required Pushed Signature { get; init; }
    public required Pushed Sbom { get; init; }
    public required Pushed CosignSignature { get; init; }
    public required Pushed Chart { get; init; }
    public required byte[] ChartContent { get; init; }
    public required Pushed Zstd { get; init; }

    public string CosignTag => Image.Digest.Replace(':', '-') + ".sig";

    public static async Task<ArtifactSet> PushAsync(string url)
    {
        var layer = RandomNumberGenerator.GetBytes(96 * 1024);
        var config = RegistryPush.Text("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var image = await RegistryPush.ImageAsync(url, Repository, Tags[0], ("application/vnd.oci.image.config.v1+json", config),
            [("application/vnd.oci.image.layer.v1.tar+gzip", layer)]);
        foreach (var tag in Tags.Skip(1)) await RegistryPush.ManifestAsync(url, Repository, tag, image.Manifest, "application/vnd.oci.image.manifest.v1+json");
        var subject = (image.Digest, image.Size, "application/vnd.oci.image.manifest.v1+json");

        var signature = await RegistryPush.ArtifactAsync(url, Repository, null, SignatureType,
            [(SignatureType, RegistryPush.Text($$"""{"signed":"{{image.Digest}}"}"""))], subject);
        var sbom = await RegistryPush.ArtifactAsync(url, Repository, null, SbomType,
            [(SbomType, RegistryPush.Text("""{"spdxVersion":"SPDX-2.3","name":"app"}"""))], subject);
        // distribution 2.8 has no referrers API: the index under the fallback tag is how clients find these.
        await RegistryPush.FallbackTagAsync(url, Repository, image.Digest,
            [(signature.Digest, signature.Size, SignatureType), (sbom.Digest, sbom.Size, SbomType)]);
        // cosign's own scheme: a simple-signing payload under sha256-<hex>.sig.
        var cosign = await RegistryPush.ImageAsync(url, Repository, image.Digest.Replace(':', '-') + ".sig",
            ("application/vnd.oci.image.config.v1+json", config),
            [("application/vnd.dev.cosign.simplesigning.v1+json", RegistryPush.Text("""{"critical":{"image":{"docker-manifest-digest":""" + "\"" + image.Digest + "\"}}}"))]);

        var chartContent = RandomNumberGenerator.GetBytes(20 * 1024);
        var chart = await RegistryPush.ImageAsync(url, ChartRepository, "0.1.0", (HelmConfigType, RegistryPush.Text("""{"name":"demo","version":"0.1.0","apiVersion":"v2"}""")),
            [("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chartContent)]);
        var zstd = await RegistryPush.ImageAsync(url, ZstdRepository, "1", ("application/vnd.oci.image.config.v1+json", config),
            [(ZstdLayerType, RandomNumberGenerator.GetBytes(32 * 1024))]);

        return new ArtifactSet
        {
            Image = new(image.Digest, image.Size, image.Manifest), Layer = layer, LayerDigest = RegistryPush.DigestOf(layer),
            Signature = new(signature.Digest, signature.Size, signature.Manifest), Sbom = new(sbom.Digest, sbom.Size, sbom.Manifest),
            CosignSignature = new(cosign.Digest, cosign.Size, cosign.Manifest),
            Chart = new(chart.Digest, chart.Size, chart.Manifest), ChartContent = chartContent, Zstd = new(zstd.Digest, zstd.Size, zstd.Manifest),
        };
    }
}

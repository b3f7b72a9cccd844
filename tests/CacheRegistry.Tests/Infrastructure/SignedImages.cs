using System.Text;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// Images under <c>signed/</c> on the collection's upstream, signed (or mis-signed on purpose) as
/// cosign signs: pushed once, the first time a test asks.
/// </summary>
public sealed class SignedImages
{
    public const string Pattern = "docker.io/signed/**";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static SignedImages? _pushed;

    public required SigningKey Key { get; init; }
    public required string KeyPath { get; init; }
    /// <summary>An OCI multi-arch index, signed by its index digest (as <c>cosign sign image:tag</c> does).</summary>
    public required TestImage App { get; init; }
    /// <summary>A Docker manifest list, signed: what dockerd pulls.</summary>
    public required TestImage DockerApp { get; init; }
    /// <summary>Signed as cosign 3 signs by default: a sigstore bundle among its referrers (beside an attestation bundle), no .sig tag.</summary>
    public required TestImage BundleApp { get; init; }
    /// <summary>Each wrongly signed image by name (unsigned, otherkey, moved…), and the reason a denial gives.</summary>
    public required IReadOnlyDictionary<string, (TestImage Image, string Reason)> Wrong { get; init; }

    /// <summary>The policy's configuration: <paramref name="mode"/> enforce or warn.</summary>
    public string[] Policy(string mode = "enforce") =>
        ["--Registry:Policies:0:Name=team", "--Registry:Policies:0:Repositories:0=" + Pattern, "--Registry:Policies:0:Keys:0=" + KeyPath, "--Registry:Policies:0:Mode=" + mode];

    public static async Task<SignedImages> GetAsync(UpstreamRegistry upstream)
    {
        await Gate.WaitAsync();
        try
        {
            return _pushed ??= await PushAsync(upstream);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<SignedImages> PushAsync(UpstreamRegistry upstream)
    {
        var dir = Net.TempDir("signed");
        var key = SigningKey.EcdsaP256();
        using var other = SigningKey.EcdsaP256();
        TestImage Build(string name, ImageFormat format = ImageFormat.Oci, string[]? platforms = null) =>
            TestImage.Build("signed/" + name, "1", format, platforms ?? ["linux/amd64"], [16 * 1024], Path.Combine(dir, name));
        var app = Build("app", ImageFormat.Oci, ["linux/amd64", "linux/arm64"]);
        var dockerApp = Build("dapp", ImageFormat.Docker, ["linux/amd64", "linux/arm64"]);
        var bundleApp = Build("v3app");
        string[] names = ["unsigned", "otherkey", "moved", "tampered", "truncated", "oversized", "stuffed", "wrongtype", "bundleotherkey", "bundlemoved"];
        var wrong = names.ToDictionary(n => n, n => Build(n));
        await Task.WhenAll(new[] { app, dockerApp, bundleApp }.Concat(wrong.Values).Select(i => i.PushAsync(upstream.Address)));

        var url = upstream.Url;
        await CosignSigner.SignAsync(url, app.Repository, app.Digest, key);
        await CosignSigner.SignAsync(url, dockerApp.Repository, dockerApp.Digest, key);
        await CosignSigner.SignAsync(url, wrong["otherkey"].Repository, wrong["otherkey"].Digest, other);
        // The app's own valid signature, put beside another image.
        await CosignSigner.PushAsync(url, wrong["moved"].Repository, wrong["moved"].Digest,
            [CosignSigner.SignedLayer(key, CosignSigner.Payload($"{upstream.Address}/{app.Repository}", app.Digest))]);
        var payload = CosignSigner.Payload($"{upstream.Address}/signed/tampered", wrong["tampered"].Digest);
        var signature = Convert.ToBase64String(key.Sign(payload));
        var altered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload).Replace("signed/tampered", "signed/evil", StringComparison.Ordinal));
        await CosignSigner.PushAsync(url, wrong["tampered"].Repository, wrong["tampered"].Digest, [new(altered, signature)]);
        var truncated = CosignSigner.Payload($"{upstream.Address}/signed/truncated", wrong["truncated"].Digest);
        await CosignSigner.PushAsync(url, wrong["truncated"].Repository, wrong["truncated"].Digest, [new(truncated, Convert.ToBase64String(key.Sign(truncated))[..50])]);
        var oversized = CosignSigner.Payload($"{upstream.Address}/signed/oversized", wrong["oversized"].Digest);
        await CosignSigner.PushAsync(url, wrong["oversized"].Repository, wrong["oversized"].Digest, [new(oversized, new string('A', 200_000))]);
        var stuffed = CosignSigner.SignedLayer(key, CosignSigner.Payload($"{upstream.Address}/signed/stuffed", wrong["stuffed"].Digest));
        await CosignSigner.PushAsync(url, wrong["stuffed"].Repository, wrong["stuffed"].Digest, Enumerable.Repeat(stuffed, 1000).ToList());
        var wrongType = CosignSigner.Payload($"{upstream.Address}/signed/wrongtype", wrong["wrongtype"].Digest, "an attestation");
        await CosignSigner.PushAsync(url, wrong["wrongtype"].Repository, wrong["wrongtype"].Digest, [CosignSigner.SignedLayer(key, wrongType)]);

        // cosign 3: an SBOM attestation signed by the same key comes first (it signs no image), then the signature.
        await CosignSigner.AttachAsync(url, bundleApp,
            CosignSigner.Bundle(key, CosignSigner.Statement(bundleApp.Repository, bundleApp.Digest, "https://spdx.dev/Document")),
            CosignSigner.Bundle(key, CosignSigner.Statement(bundleApp.Repository, bundleApp.Digest)));
        await CosignSigner.AttachAsync(url, wrong["bundleotherkey"], CosignSigner.Bundle(other, CosignSigner.Statement("signed/bundleotherkey", wrong["bundleotherkey"].Digest)));
        await CosignSigner.AttachAsync(url, wrong["bundlemoved"], CosignSigner.Bundle(key, CosignSigner.Statement(bundleApp.Repository, bundleApp.Digest)));

        return new SignedImages
        {
            Key = key, KeyPath = key.WritePublicKey(dir), App = app, DockerApp = dockerApp, BundleApp = bundleApp,
            Wrong = new Dictionary<string, (TestImage, string)>
            {
                ["unsigned"] = (wrong["unsigned"], "unsigned: docker.io/signed/unsigned has no signature tag"),
                ["otherkey"] = (wrong["otherkey"], "not made by a key of the policy"),
                ["moved"] = (wrong["moved"], $"the signature is for {app.Digest}, not for {wrong["moved"].Digest}"),
                ["tampered"] = (wrong["tampered"], "not made by a key of the policy (another key, or an altered payload)"),
                ["truncated"] = (wrong["truncated"], "is not base64"),
                ["oversized"] = (wrong["oversized"], "200000 characters"),
                ["stuffed"] = (wrong["stuffed"], "1000 layers"),
                ["wrongtype"] = (wrong["wrongtype"], "type is 'an attestation'"),
                ["bundleotherkey"] = (wrong["bundleotherkey"], "was not signed by a key of the policy"),
                ["bundlemoved"] = (wrong["bundlemoved"], $"the signature is for {bundleApp.Digest}, not for {wrong["bundlemoved"].Digest}"),
            },
        };
    }
}

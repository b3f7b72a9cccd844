using System.Text.RegularExpressions;

namespace CacheRegistry.Oci;

/// <summary>
/// What a signature, attestation or SBOM is about: its subject manifest and its artifact type.
/// Two conventions name a subject: the OCI 1.1 <c>subject</c> field, and the tag schema of the
/// spec's fallback and of cosign, <c>sha256-&lt;hex&gt;</c> (an index of referrers) and
/// <c>sha256-&lt;hex&gt;.sig</c>, <c>.att</c>, <c>.sbom</c>.
/// </summary>
public sealed partial record Referrer(Digest Subject, string? ArtifactType)
{
    /// <summary>Suffixes of cosign's tags, after the fallback tag itself.</summary>
    public static readonly string[] CosignSuffixes = [".sig", ".att", ".sbom"];

    [GeneratedRegex(@"^(sha256|sha512)-([a-f0-9]{64}|[a-f0-9]{128})(?:\.(?:sig|att|sbom))?\z")]
    private static partial Regex SubjectTag();

    /// <summary>The spec's fallback tag for <paramref name="subject"/>: <c>sha256-&lt;hex&gt;</c>.</summary>
    public static string FallbackTag(Digest subject) => $"{subject.Algorithm}-{subject.Hex}";

    /// <summary>The fallback tag and cosign's tags that may hold what refers to <paramref name="subject"/>.</summary>
    public static IEnumerable<string> Tags(Digest subject) => CosignSuffixes.Select(s => FallbackTag(subject) + s).Prepend(FallbackTag(subject));

    /// <summary>True for a tag that names what refers to another manifest rather than an image of its own.</summary>
    public static bool IsSubjectTag(string tag) => SubjectTag().IsMatch(tag);

    /// <summary>The subject of a manifest fetched as <paramref name="tag"/>, or null when it describes no other manifest.</summary>
    public static Referrer? Of(ManifestDocument? document, string? tag)
    {
        var subject = document?.Subject?.Digest;
        if (subject is null && tag is not null && SubjectTag().Match(tag) is { Success: true } m && Digest.TryParse($"{m.Groups[1].Value}:{m.Groups[2].Value}", out var fromTag))
            subject = fromTag;
        if (subject is not { } s) return null;
        var type = document?.ArtifactType;
        if (type is null && document?.Config?.MediaType is { } config && config != MediaTypes.OciConfig && config != MediaTypes.DockerConfig) type = config;
        type ??= document is { Layers.Count: > 0 } ? document.Layers[0].MediaType : null;
        return new Referrer(s, type);
    }
}

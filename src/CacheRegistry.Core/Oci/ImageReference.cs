namespace CacheRegistry.Oci;

/// <summary>
/// An image reference as users write it (<c>nginx</c>, <c>registry.k8s.io/pause:3.9</c>,
/// <c>ghcr.io/org/app@sha256:…</c>), normalised the way Docker does: docker.io with
/// <c>library/</c> for one-component names, <c>latest</c> when no tag or digest is given.
/// </summary>
public sealed record ImageReference(string Registry, string Repository, string? Tag, string? Digest)
{
    /// <summary>Tag or digest, whichever addresses the manifest.</summary>
    public string Reference => Digest ?? Tag ?? "latest";

    /// <summary>The repository as written, registry included: <c>docker.io/library/nginx</c> (the router turns it into a cache key).</summary>
    public string FullName => Registry + "/" + Repository;

    public override string ToString() => FullName + (Digest is not null ? "@" + Digest : ":" + (Tag ?? "latest"));

    public static ImageReference Parse(string text)
    {
        var t = text.Trim();
        if (t.Length == 0) throw new FormatException("empty image reference");
        string? digest = null;
        var at = t.IndexOf('@');
        if (at >= 0)
        {
            digest = t[(at + 1)..];
            if (!Oci.Digest.TryParse(digest, out _)) throw new FormatException($"'{text}': '{digest}' is not a valid digest");
            t = t[..at];
        }
        string? tag = null;
        var lastSlash = t.LastIndexOf('/');
        var colon = t.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = t[(colon + 1)..];
            t = t[..colon];
            if (!Grammar.IsValidTag(tag)) throw new FormatException($"'{text}': '{tag}' is not a valid tag");
        }
        var registry = DockerHub.Registry;
        var firstSlash = t.IndexOf('/');
        if (firstSlash > 0)
        {
            var first = t[..firstSlash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost")
            {
                registry = first;
                t = t[(firstSlash + 1)..];
            }
        }
        if (DockerHub.Is(registry))
        {
            registry = DockerHub.Registry;
            t = DockerHub.RepositoryName(t);
        }
        if (!Grammar.IsValidName(t)) throw new FormatException($"'{text}': '{t}' is not a valid repository name");
        if (tag is null && digest is null) tag = "latest";
        return new ImageReference(registry, t, tag, digest);
    }
}

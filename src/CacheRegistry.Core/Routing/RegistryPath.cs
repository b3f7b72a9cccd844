using CacheRegistry.Oci;

namespace CacheRegistry.Routing;

public enum RequestKind { Base, Catalog, Manifest, Blob, TagsList, Referrers }

/// <summary>A parsed <c>/v2/…</c> path: what is asked for, of which repository name.</summary>
public sealed record RegistryPath(RequestKind Kind, string Name, string Reference)
{
    public static readonly RegistryPath BaseCheck = new(RequestKind.Base, "", "");
    public static readonly RegistryPath CatalogList = new(RequestKind.Catalog, "", "");

    /// <summary>
    /// Parses the path after <c>/v2/</c>. Matched from the end, because a repository name may
    /// itself contain the words "blobs" or "manifests". Throws NAME_INVALID / DIGEST_INVALID / NAME_UNKNOWN.
    /// </summary>
    public static RegistryPath Parse(string rest)
    {
        if (rest.Length == 0) return BaseCheck;
        if (rest == "_catalog") return CatalogList;
        if (rest.EndsWith("/tags/list", StringComparison.Ordinal))
            return new RegistryPath(RequestKind.TagsList, ValidName(rest[..^"/tags/list".Length]), "");

        var lastSlash = rest.LastIndexOf('/');
        var secondSlash = lastSlash > 0 ? rest.LastIndexOf('/', lastSlash - 1) : -1;
        if (lastSlash <= 0 || secondSlash <= 0)
            throw RegistryError.NameUnknown($"'/v2/{Truncate(rest)}' is not a registry endpoint");

        var reference = rest[(lastSlash + 1)..];
        var kindWord = rest[(secondSlash + 1)..lastSlash];
        var name = rest[..secondSlash];
        switch (kindWord)
        {
            case "manifests":
                ValidName(name);
                if (Digest.LooksLikeDigest(reference)) return new(RequestKind.Manifest, name, ValidDigest(reference));
                if (!Grammar.IsValidTag(reference))
                    throw RegistryError.ManifestUnknown($"'{Truncate(reference)}' is neither a valid tag nor a digest");
                return new(RequestKind.Manifest, name, reference);
            case "blobs":
                return new(RequestKind.Blob, ValidName(name), ValidDigest(reference));
            case "referrers":
                return new(RequestKind.Referrers, ValidName(name), ValidDigest(reference));
            default:
                throw RegistryError.NameUnknown($"'/v2/{Truncate(rest)}' is not a registry endpoint");
        }
    }

    private static string ValidName(string name)
    {
        if (name.Length > Grammar.MaxNameLength)
            throw RegistryError.NameInvalid($"repository name is {name.Length} characters long; at most {Grammar.MaxNameLength} are allowed");
        if (!Grammar.IsValidName(name))
            throw RegistryError.NameInvalid($"'{Truncate(name)}' is not a valid repository name: lowercase letters, digits and separators ('.', '_', '__', '-', '/') only");
        return name;
    }

    private static string ValidDigest(string reference)
    {
        if (!Digest.TryParse(reference, out _))
            throw RegistryError.DigestInvalid($"'{Truncate(reference)}' is not a valid digest: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>");
        return reference;
    }

    public static string Truncate(string text) => text.Length <= 80 ? text : text[..80] + "…";
}

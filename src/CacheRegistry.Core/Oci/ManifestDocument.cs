using System.Text.Json;

namespace CacheRegistry.Oci;

/// <summary>A content descriptor: digest, declared size (-1 when absent) and, for index entries, the platform.</summary>
public sealed record Descriptor(Digest Digest, long Size, string? MediaType, string Platform = "", string? ArtifactType = null);

/// <summary>
/// A manifest's JSON read once: its media type, and every digest it points at with the sizes it
/// declares. Image manifests, indexes and lists, OCI artifacts (<c>blobs</c>, <c>subject</c>) and
/// Docker schema 1 (<c>fsLayers</c>) are understood. Anything that is not a JSON object with a
/// <c>schemaVersion</c> is not a manifest.
/// </summary>
public sealed class ManifestDocument
{
    private ManifestDocument(int schemaVersion, string? declaredMediaType, string? artifactType, Descriptor? config, IReadOnlyList<Descriptor> layers,
        IReadOnlyList<Descriptor> manifests, Descriptor? subject, IReadOnlyList<Digest> schema1Layers, bool hasManifestsList)
    {
        SchemaVersion = schemaVersion;
        DeclaredMediaType = declaredMediaType;
        ArtifactType = artifactType;
        Config = config;
        Layers = layers;
        Manifests = manifests;
        Subject = subject;
        Schema1Layers = schema1Layers;
        IsIndex = hasManifestsList;
    }

    public int SchemaVersion { get; }
    /// <summary>The manifest's own <c>mediaType</c> field, if it has one.</summary>
    public string? DeclaredMediaType { get; }
    public string? ArtifactType { get; }
    public Descriptor? Config { get; }
    /// <summary>Image layers, or an artifact's <c>blobs</c>.</summary>
    public IReadOnlyList<Descriptor> Layers { get; }
    /// <summary>An index's or list's child manifests, with their platforms.</summary>
    public IReadOnlyList<Descriptor> Manifests { get; }
    public Descriptor? Subject { get; }
    public IReadOnlyList<Digest> Schema1Layers { get; }
    public bool IsIndex { get; }

    /// <summary>Every digest the manifest points at: config, layers, children, subject.</summary>
    public IEnumerable<Digest> References
    {
        get
        {
            if (Config is not null) yield return Config.Digest;
            foreach (var d in Layers) yield return d.Digest;
            foreach (var d in Manifests) yield return d.Digest;
            if (Subject is not null) yield return Subject.Digest;
            foreach (var d in Schema1Layers) yield return d;
        }
    }

    /// <summary>The config and layers of an image manifest, with the sizes it declares.</summary>
    public IEnumerable<Descriptor> ImageBlobs => Config is null ? Layers : Layers.Prepend(Config);

    /// <summary>What the manifest points at, added up: config and layers, or an index's children.</summary>
    public long ContentSize => ImageBlobs.Concat(Manifests).Sum(d => Math.Max(0, d.Size));

    /// <summary>The child manifest of an index for one platform, e.g. linux/amd64 (any variant).</summary>
    public Digest? ChildFor(string os, string architecture)
    {
        var platform = $"{os}/{architecture}";
        foreach (var m in Manifests)
            if (m.Platform == platform || m.Platform.StartsWith(platform + "/", StringComparison.Ordinal)) return m.Digest;
        return null;
    }

    /// <summary>
    /// The media type the manifest is served with: the upstream's Content-Type when it is a manifest
    /// type, else (for generic types such as application/json) the manifest's own mediaType, else
    /// what its shape says. Null when the body is not a manifest of a type clients understand.
    /// </summary>
    public string? MediaTypeFor(string contentType)
    {
        if (MediaTypes.IsKnownManifest(contentType)) return contentType;
        if (!MediaTypes.IsGeneric(contentType)) return null;
        if (DeclaredMediaType is { } declared) return MediaTypes.IsKnownManifest(declared) ? declared : null;
        if (SchemaVersion == 1) return MediaTypes.DockerSchema1Signed;
        if (IsIndex) return MediaTypes.OciIndex;
        return Config is not null ? MediaTypes.OciManifest : null;
    }

    public static ManifestDocument? TryParse(ReadOnlyMemory<byte> content)
    {
        try
        {
            using var doc = JsonDocument.Parse(content);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("schemaVersion", out var version)
                || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var schemaVersion))
                return null;
            var manifests = List(root, "manifests");
            return new ManifestDocument(schemaVersion, String(root, "mediaType"), String(root, "artifactType"), Describe(root, "config"),
                [.. List(root, "layers"), .. List(root, "blobs")], manifests, Describe(root, "subject"), Schema1(root),
                root.TryGetProperty("manifests", out var m) && m.ValueKind == JsonValueKind.Array);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Every digest a stored manifest points at; nothing for bytes that are not a manifest.</summary>
    public static IEnumerable<Digest> ReferencesOf(ReadOnlyMemory<byte> content) => TryParse(content)?.References ?? [];

    private static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    private static Descriptor? Describe(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var d) ? Describe(d) : null;

    private static Descriptor? Describe(JsonElement d)
    {
        if (d.ValueKind != JsonValueKind.Object || !Digest.TryParse(String(d, "digest"), out var digest)) return null;
        var size = d.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) ? n : -1;
        var platform = "";
        if (d.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object && String(p, "os") is { } os && String(p, "architecture") is { } arch)
            platform = $"{os}/{arch}" + (String(p, "variant") is { } variant ? "/" + variant : "");
        return new Descriptor(digest, size, String(d, "mediaType"), platform, String(d, "artifactType"));
    }

    private static List<Descriptor> List(JsonElement root, string name)
    {
        var result = new List<Descriptor>();
        if (root.TryGetProperty(name, out var items) && items.ValueKind == JsonValueKind.Array)
            foreach (var item in items.EnumerateArray())
                if (Describe(item) is { } d) result.Add(d);
        return result;
    }

    private static List<Digest> Schema1(JsonElement root)
    {
        var result = new List<Digest>();
        if (root.TryGetProperty("fsLayers", out var layers) && layers.ValueKind == JsonValueKind.Array)
            foreach (var l in layers.EnumerateArray())
                if (l.ValueKind == JsonValueKind.Object && Digest.TryParse(String(l, "blobSum"), out var d)) result.Add(d);
        return result;
    }
}

using System.Text.Json;
using CacheRegistry.Oci;

namespace CacheRegistry.Cache;

/// <summary>The digests a manifest points at (config, layers, index children), for repository links.</summary>
public static class ManifestReferences
{
    public static IReadOnlyList<Digest> Of(byte[] content)
    {
        var result = new List<Digest>();
        try
        {
            using var doc = JsonDocument.Parse(content);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return result;
            if (root.TryGetProperty("config", out var config)) Add(config, result);
            foreach (var list in new[] { "layers", "manifests", "blobs" })
                if (root.TryGetProperty(list, out var items) && items.ValueKind == JsonValueKind.Array)
                    foreach (var item in items.EnumerateArray()) Add(item, result);
            if (root.TryGetProperty("subject", out var subject)) Add(subject, result);
            if (root.TryGetProperty("fsLayers", out var fsLayers) && fsLayers.ValueKind == JsonValueKind.Array)
                foreach (var l in fsLayers.EnumerateArray())
                    if (l.TryGetProperty("blobSum", out var sum) && Digest.TryParse(sum.GetString(), out var d)) result.Add(d);
        }
        catch (JsonException)
        {
            // Not JSON: nothing to link; the bytes are still served as the upstream sent them.
        }
        return result;
    }

    /// <summary>The sizes of what the manifest points at (config and layers, or an index's manifests), added up.</summary>
    public static long ContentSize(byte[] content) => Descriptors(content, "layers", "manifests").Sum(d => Math.Max(0, d.Size));

    /// <summary>An image manifest's config and layers, with the sizes it declares (-1 where it gives none).</summary>
    public static IReadOnlyList<(Digest Digest, long Size)> ImageBlobs(byte[] manifest) =>
        Descriptors(manifest, "layers").Where(d => d.Digest is not null).Select(d => (d.Digest!.Value, d.Size)).ToList();

    private static List<(Digest? Digest, long Size)> Descriptors(byte[] content, params string[] lists)
    {
        var result = new List<(Digest?, long)>();
        try
        {
            using var doc = JsonDocument.Parse(content);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return result;
            if (root.TryGetProperty("config", out var config)) result.Add(Describe(config));
            foreach (var list in lists)
                if (root.TryGetProperty(list, out var items) && items.ValueKind == JsonValueKind.Array)
                    foreach (var item in items.EnumerateArray()) result.Add(Describe(item));
        }
        catch (JsonException)
        {
        }
        return result;

        static (Digest?, long) Describe(JsonElement d) => (
            d.ValueKind == JsonValueKind.Object && d.TryGetProperty("digest", out var digest) && Digest.TryParse(digest.GetString(), out var parsed) ? parsed : null,
            d.ValueKind == JsonValueKind.Object && d.TryGetProperty("size", out var size) && size.TryGetInt64(out var n) ? n : -1);
    }

    /// <summary>The child manifests of an index with their platforms ("linux/amd64", or "" when none is given).</summary>
    public static IReadOnlyList<(Digest Digest, string Platform)> Children(byte[] index)
    {
        var result = new List<(Digest, string)>();
        try
        {
            using var doc = JsonDocument.Parse(index);
            if (!doc.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array) return result;
            foreach (var m in manifests.EnumerateArray())
            {
                if (!m.TryGetProperty("digest", out var d) || !Digest.TryParse(d.GetString(), out var digest)) continue;
                var platform = "";
                if (m.TryGetProperty("platform", out var p) && p.TryGetProperty("os", out var os) && p.TryGetProperty("architecture", out var arch))
                    platform = $"{os.GetString()}/{arch.GetString()}" + (p.TryGetProperty("variant", out var v) ? "/" + v.GetString() : "");
                result.Add((digest, platform));
            }
        }
        catch (JsonException)
        {
        }
        return result;
    }

    /// <summary>The child manifest of an index for one platform, e.g. linux/amd64 (any variant).</summary>
    public static Digest? ChildFor(byte[] index, string os, string architecture)
    {
        var platform = $"{os}/{architecture}";
        foreach (var (digest, p) in Children(index))
            if (p == platform || p.StartsWith(platform + "/", StringComparison.Ordinal)) return digest;
        return null;
    }

    private static void Add(JsonElement descriptor, List<Digest> into)
    {
        if (descriptor.ValueKind == JsonValueKind.Object && descriptor.TryGetProperty("digest", out var d)
            && Digest.TryParse(d.GetString(), out var digest))
            into.Add(digest);
    }
}

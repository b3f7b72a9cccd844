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

    /// <summary>The child manifest of an index for one platform, e.g. linux/amd64.</summary>
    public static Digest? ChildFor(byte[] index, string os, string architecture)
    {
        try
        {
            using var doc = JsonDocument.Parse(index);
            if (!doc.RootElement.TryGetProperty("manifests", out var manifests)) return null;
            foreach (var m in manifests.EnumerateArray())
            {
                if (m.TryGetProperty("platform", out var p)
                    && p.TryGetProperty("os", out var o) && o.GetString() == os
                    && p.TryGetProperty("architecture", out var a) && a.GetString() == architecture
                    && m.TryGetProperty("digest", out var digest) && Digest.TryParse(digest.GetString(), out var d))
                    return d;
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private static void Add(JsonElement descriptor, List<Digest> into)
    {
        if (descriptor.ValueKind == JsonValueKind.Object && descriptor.TryGetProperty("digest", out var d)
            && Digest.TryParse(d.GetString(), out var digest))
            into.Add(digest);
    }
}

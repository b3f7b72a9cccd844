using System.Text.Json;
using CacheRegistry.Oci;

namespace CacheRegistry.Upstream;

/// <summary>One page of an upstream tag list, and the cursor of the next page when the upstream announced one.</summary>
public sealed record TagsPage(IReadOnlyList<string> Tags, string? Next)
{
    internal static TagsPage Read(byte[] body, HttpResponseMessage response, string name)
    {
        using var doc = JsonDocument.Parse(body);
        var tags = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("tags", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String).Select(t => t.GetString()!).Where(Grammar.IsValidTag).ToList()
            : [];
        return new TagsPage(tags, NextCursor(response, name));
    }

    // Link: </v2/<name>/tags/list?n=100&last=x>; rel="next" → "?n=100&last=x". Only the query is
    // kept, so a Link can never point the next request at another path or host.
    private static string? NextCursor(HttpResponseMessage response, string name)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var link in links)
        {
            if (!link.Contains("rel=\"next\"", StringComparison.Ordinal)) continue;
            var start = link.IndexOf('<') + 1;
            var end = link.IndexOf('>');
            if (start <= 0 || end < start) continue;
            var target = link[start..end];
            var marker = $"/v2/{name}/tags/list?";
            var at = target.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) return "?" + target[(at + marker.Length)..];
        }
        return null;
    }
}

using CacheRegistry.Oci;

namespace CacheRegistry.Server.Http;

/// <summary>The media types a client accepts: several header lines and comma lists merged, parameters dropped.</summary>
internal sealed class AcceptHeader(IReadOnlySet<string> types)
{
    public static AcceptHeader Parse(IEnumerable<string?> headerLines)
    {
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in headerLines)
            if (line is not null)
                foreach (var part in line.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    set.Add(MediaTypes.Bare(part));
        return new AcceptHeader(set);
    }

    /// <summary>
    /// The allocation-free common case: no Accept, or a line naming the type or */*. False means
    /// "look closer" (a type may still match with parameters), not "refused".
    /// </summary>
    public static bool QuickAllows(Microsoft.Extensions.Primitives.StringValues lines, string mediaType)
    {
        if (lines.Count == 0) return true;
        foreach (var line in lines)
            if (line is not null && (line.Contains(mediaType, StringComparison.OrdinalIgnoreCase) || line.Contains("*/*", StringComparison.Ordinal)))
                return true;
        return false;
    }

    /// <summary>No Accept, a wildcard, or the type itself.</summary>
    public bool Allows(string mediaType) => types.Count == 0 || types.Contains("*/*") || types.Contains(mediaType);

    public bool AllowsSingleManifest => types.Contains(MediaTypes.DockerManifest) || types.Contains(MediaTypes.OciManifest);

    public override string ToString() => string.Join(", ", types);
}

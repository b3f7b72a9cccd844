namespace CacheRegistry.Oci;

/// <summary>One satisfiable byte range of a blob: <c>[Start, Start+Length)</c>.</summary>
public readonly record struct ByteRange(long Start, long Length)
{
    public long End => Start + Length - 1;

    /// <summary>
    /// Parses a single-range <c>Range</c> header (<c>bytes=a-b</c>, <c>a-</c>, <c>-n</c>) against the blob size.
    /// Returns null when there is no header. Throws RANGE_INVALID (416) when it is malformed,
    /// names several ranges, or cannot be satisfied.
    /// </summary>
    public static ByteRange? Parse(string? header, long size) => Parse(header, size, size);

    /// <summary>Refuses a malformed header before the blob's size is known (then no size is reported).</summary>
    public static void CheckSyntax(string? header) => Parse(header, long.MaxValue, null);

    private static ByteRange? Parse(string? header, long size, long? reportedSize)
    {
        if (string.IsNullOrWhiteSpace(header)) return null;
        var h = header.Trim();
        if (!h.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
            throw RegistryError.RangeInvalid($"Range '{header}' is not of the form bytes=a-b", reportedSize);
        var spec = h[6..].Trim();
        if (spec.Contains(','))
            throw RegistryError.RangeInvalid("only a single byte range is supported", reportedSize);
        var dash = spec.IndexOf('-');
        if (dash < 0) throw RegistryError.RangeInvalid($"Range '{header}' has no '-'", reportedSize);
        var first = spec[..dash].Trim();
        var last = spec[(dash + 1)..].Trim();
        if (first.Length == 0)
        {
            // Suffix range: the last n bytes.
            if (!long.TryParse(last, System.Globalization.NumberStyles.None, null, out var n) || n == 0)
                throw RegistryError.RangeInvalid($"Range '{header}' is malformed", reportedSize);
            if (size == 0) throw RegistryError.RangeInvalid("range not satisfiable for an empty blob", reportedSize);
            var len = Math.Min(n, size);
            return new ByteRange(size - len, len);
        }
        if (!long.TryParse(first, System.Globalization.NumberStyles.None, null, out var start))
            throw RegistryError.RangeInvalid($"Range '{header}' is malformed", reportedSize);
        long end = size - 1;
        if (last.Length > 0)
        {
            if (!long.TryParse(last, System.Globalization.NumberStyles.None, null, out end) || end < start)
                throw RegistryError.RangeInvalid($"Range '{header}' is malformed", reportedSize);
        }
        if (start >= size)
            throw RegistryError.RangeInvalid($"Range '{header}' starts beyond the blob's {size} bytes", reportedSize);
        end = Math.Min(end, size - 1);
        return new ByteRange(start, end - start + 1);
    }
}

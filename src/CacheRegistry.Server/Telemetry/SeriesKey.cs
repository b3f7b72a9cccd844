using System.Runtime.CompilerServices;

namespace CacheRegistry.Server.Telemetry;

/// <summary>
/// A measurement's tags as a dictionary key without building a string per measurement (the
/// exposition text of a label set is made once, when its series is created). Tags are sorted by
/// name, so call sites that list them in another order share a series.
/// </summary>
internal readonly struct SeriesKey : IEquatable<SeriesKey>
{
    public const int MaxTags = 8;
    private readonly Tags _tags;
    private readonly int _count;
    private readonly int _hash;

    [InlineArray(MaxTags)]
    private struct Tags
    {
        private KeyValuePair<string, object?> _first;
    }

    /// <summary>Only for up to <see cref="MaxTags"/> tags.</summary>
    public SeriesKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        _count = tags.Length;
        Span<KeyValuePair<string, object?>> sorted = _tags;
        tags.CopyTo(sorted);
        for (var i = 1; i < _count; i++)
            for (var j = i; j > 0 && string.CompareOrdinal(sorted[j - 1].Key, sorted[j].Key) > 0; j--)
                (sorted[j - 1], sorted[j]) = (sorted[j], sorted[j - 1]);
        var hash = new HashCode();
        for (var i = 0; i < _count; i++)
        {
            hash.Add(sorted[i].Key, StringComparer.Ordinal);
            hash.Add(sorted[i].Value);
        }
        _hash = hash.ToHashCode();
    }

    /// <summary>The tags sorted by name (a copy: made once per series).</summary>
    public KeyValuePair<string, object?>[] Sorted()
    {
        ReadOnlySpan<KeyValuePair<string, object?>> tags = _tags;
        return tags[.._count].ToArray();
    }

    public bool Equals(SeriesKey other)
    {
        if (_hash != other._hash || _count != other._count) return false;
        ReadOnlySpan<KeyValuePair<string, object?>> a = _tags, b = other._tags;
        for (var i = 0; i < _count; i++)
            if (!string.Equals(a[i].Key, b[i].Key, StringComparison.Ordinal) || !Equals(a[i].Value, b[i].Value)) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is SeriesKey other && Equals(other);
    public override int GetHashCode() => _hash;
}

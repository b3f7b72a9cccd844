using System.Text.RegularExpressions;

namespace CacheRegistry.Oci;

/// <summary>Grammars of the distribution spec for repository names and tags.</summary>
public static partial class Grammar
{
    /// <summary>Names may be at most this long, registry host included.</summary>
    public const int MaxNameLength = 255;

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*\z")]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\z")]
    private static partial Regex TagRegex();

    public static bool IsValidName(string name) => name.Length <= MaxNameLength && NameRegex().IsMatch(name);

    public static bool IsValidTag(string tag) => TagRegex().IsMatch(tag);
}

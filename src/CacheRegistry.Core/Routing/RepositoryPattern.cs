namespace CacheRegistry.Routing;

/// <summary>
/// Repository patterns for allow-lists and pins: <c>*</c> matches within one path component,
/// <c>**</c> across components (<c>library/*</c>, <c>team/**</c>, <c>**/base</c>).
/// </summary>
public static class RepositoryPattern
{
    public static bool AnyMatches(IReadOnlyList<string> patterns, string name) =>
        patterns.Count == 0 || patterns.Any(p => Matches(p, name));

    public static bool Matches(string pattern, string name) => Match(pattern.AsSpan(), name.AsSpan());

    private static bool Match(ReadOnlySpan<char> p, ReadOnlySpan<char> s)
    {
        while (p.Length > 0)
        {
            if (p.StartsWith("**"))
            {
                var rest = p[2..];
                for (var i = 0; i <= s.Length; i++)
                    if (Match(rest, s[i..])) return true;
                return false;
            }
            if (p[0] == '*')
            {
                var rest = p[1..];
                for (var i = 0; i <= s.Length; i++)
                {
                    if (Match(rest, s[i..])) return true;
                    if (i < s.Length && s[i] == '/') return false;
                }
                return false;
            }
            if (s.Length == 0 || p[0] != s[0]) return false;
            p = p[1..];
            s = s[1..];
        }
        return s.Length == 0;
    }
}

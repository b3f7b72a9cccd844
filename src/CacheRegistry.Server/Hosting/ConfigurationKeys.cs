using System.Collections;
using System.Reflection;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// The configuration keys the server reads and the type of each, derived from its option
/// classes, so a misspelt key (in appsettings, an environment variable or docker-compose.yml) or a
/// value of the wrong kind is reported instead of ignored.
/// </summary>
internal static class ConfigurationKeys
{
    /// <summary>Key patterns such as <c>Registry:Upstreams:*:Endpoints:*</c>, with the type a value must have.</summary>
    public static IReadOnlyList<(string Pattern, Type Type)> Known { get; } =
        [.. OptionSections.All.Where(s => s.IsBound).SelectMany(s => Walk(s.Type, s.Path))];

    public static bool IsKnown(string key) => TypeOf(key) is not null;

    /// <summary>Whether the key names a list or map: what an empty <c>[]</c> in a JSON file leaves behind, with an empty value.</summary>
    public static bool IsCollection(string key)
    {
        var parts = key.Split(':');
        return Known.Any(k => k.Pattern.Split(':') is var p && p.Length > parts.Length && p[parts.Length] == "*" && Matches(p, parts));
    }

    /// <summary>The type a key's value must convert to, or null for a key the server does not read.</summary>
    public static Type? TypeOf(string key)
    {
        var parts = key.Split(':');
        foreach (var (pattern, type) in Known)
        {
            var p = pattern.Split(':');
            if (p.Length == parts.Length && Matches(p, parts)) return type;
        }
        return null;
    }

    /// <summary>Whether the key's parts match the pattern's first parts (<c>*</c> matches any one).</summary>
    private static bool Matches(string[] pattern, string[] parts) =>
        pattern.Zip(parts).All(x => x.First == "*" || x.First.Equals(x.Second, StringComparison.OrdinalIgnoreCase));

    private static IEnumerable<(string Pattern, Type Type)> Walk(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || IsDictionary(p.PropertyType)))
        {
            var key = prefix + ":" + property.Name;
            var t = property.PropertyType;
            if (IsDictionary(t))
            {
                var valueType = t.GetGenericArguments()[1];
                if (IsLeaf(valueType)) yield return (key + ":*", valueType);
                else if (IsList(valueType, out var element) && IsLeaf(element)) yield return (key + ":*:*", element); // Groups:ops:0=alice
                else foreach (var k in Walk(valueType, key + ":*")) yield return k;
            }
            else if (t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(t))
            {
                var element = t.IsGenericType ? t.GetGenericArguments()[0] : typeof(string);
                if (IsLeaf(element)) yield return (key + ":*", element);
                else foreach (var k in Walk(element, key + ":*")) yield return k;
            }
            else if (IsLeaf(t))
            {
                yield return (key, t);
            }
            else
            {
                foreach (var k in Walk(t, key)) yield return k;
            }
        }
    }

    private static bool IsList(Type t, out Type element)
    {
        element = t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>) ? t.GetGenericArguments()[0] : typeof(void);
        return element != typeof(void);
    }

    private static bool IsDictionary(Type t) => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>);

    private static bool IsLeaf(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(ByteSize) || t == typeof(decimal) || Nullable.GetUnderlyingType(t) is not null;
}

using System.Collections;
using System.Reflection;
using CacheRegistry.Server.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// The configuration keys the server reads, derived from its option classes, so a misspelt key
/// (in appsettings, an environment variable or docker-compose.yml) is reported instead of ignored.
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>Key patterns such as <c>Registry:Upstreams:*:Endpoints:*</c>.</summary>
    public static IReadOnlyList<string> Known { get; } =
    [
        .. Walk(typeof(RegistryOptions), RegistryOptions.Section)
            .Where(k => !k.StartsWith("Registry:Storage", StringComparison.Ordinal) && !k.StartsWith("Registry:Metadata", StringComparison.Ordinal)),
        .. Walk(typeof(StorageOptions), StorageOptions.Section),
        .. Walk(typeof(MetadataOptions), MetadataOptions.Section),
    ];

    public static bool IsKnown(string key)
    {
        var parts = key.Split(':');
        return Known.Any(pattern =>
        {
            var p = pattern.Split(':');
            return p.Length == parts.Length && p.Zip(parts).All(x => x.First == "*" || x.First.Equals(x.Second, StringComparison.OrdinalIgnoreCase));
        });
    }

    /// <summary>Every <c>Registry:</c> key set in the configuration that the server does not read.</summary>
    public static IEnumerable<string> Unknown(IConfiguration configuration) =>
        configuration.GetSection(RegistryOptions.Section).AsEnumerable(makePathsRelative: false)
            .Where(kv => kv.Value is not null && !IsKnown(kv.Key))
            .Select(kv => kv.Key);

    private static IEnumerable<string> Walk(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || IsDictionary(p.PropertyType)))
        {
            var key = prefix + ":" + property.Name;
            var t = property.PropertyType;
            if (IsDictionary(t))
            {
                var valueType = t.GetGenericArguments()[1];
                if (IsLeaf(valueType)) yield return key + ":*";
                else foreach (var k in Walk(valueType, key + ":*")) yield return k;
            }
            else if (t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(t))
            {
                var element = t.IsGenericType ? t.GetGenericArguments()[0] : typeof(string);
                if (IsLeaf(element)) yield return key + ":*";
                else foreach (var k in Walk(element, key + ":*")) yield return k;
            }
            else if (IsLeaf(t))
            {
                yield return key;
            }
            else
            {
                foreach (var k in Walk(t, key)) yield return k;
            }
        }
    }

    private static bool IsDictionary(Type t) => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>);

    private static bool IsLeaf(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(decimal) || Nullable.GetUnderlyingType(t) is not null;
}

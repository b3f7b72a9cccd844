using System.ComponentModel;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Every <c>Registry:</c> key checked before the server listens: keys it does not read and values of
/// the wrong kind, one line per problem. Values of the right kind that cannot work (a watermark
/// order, a default upstream that is not configured) are the sections' rules (<see cref="OptionSections"/>).
/// </summary>
internal static class ConfigurationValidator
{
    /// <summary>The configuration sections the server reads (a top-level key near one of these is a typo).</summary>
    private static readonly string[] Sections = [RegistryOptions.Section, "Logging", "Serilog", "Kestrel"];

    /// <summary>Unknown keys, values that do not convert to their key's type, misspelt sections and bad logging values.</summary>
    public static List<string> KeyProblems(IConfiguration configuration) => KeyProblems(configuration, []);

    /// <param name="unbindable">Filled with the keys whose values do not convert (binding must leave them out).</param>
    public static List<string> KeyProblems(IConfiguration configuration, HashSet<string> unbindable)
    {
        var problems = new List<string>();
        foreach (var (key, value) in configuration.GetSection(RegistryOptions.Section).AsEnumerable(makePathsRelative: false))
        {
            if (value is null || (value.Length == 0 && ConfigurationKeys.IsCollection(key))) continue;
            if (ConfigurationKeys.TypeOf(key) is not { } type)
                problems.Add(ConfigurationKeys.IsCollection(key)
                    ? $"{key} = '{value}': expected a list ({key}:0=…, or a JSON array), not one value"
                    : $"{key}: not a key CacheRegistry reads; check its spelling (README, configuration reference)");
            else if (!Converts(value, type))
            {
                problems.Add($"{key} = '{value}': {Expected(type, value)}");
                unbindable.Add(key);
            }
        }
        foreach (var section in configuration.GetChildren().Select(c => c.Key).Distinct(StringComparer.OrdinalIgnoreCase))
            if (!Sections.Contains(section, StringComparer.OrdinalIgnoreCase) && Spelling.Closest(section, Sections) is { } meant)
                problems.Add($"{section}: not a section CacheRegistry reads; did you mean {meant}?");
        LoggingProblems(configuration, problems);
        return problems;
    }

    private static void LoggingProblems(IConfiguration configuration, List<string> problems)
    {
        if (configuration["Logging:Format"] is { } format && format is not ("text" or "json" or "Text" or "Json" or "TEXT" or "JSON"))
            problems.Add($"Logging:Format = '{format}': expected text or json");
        if (configuration[Telemetry.Logging.HitLogSampling.Key] is { } share && !Telemetry.Logging.HitLogSampling.TryParse(share, out _))
            problems.Add($"{Telemetry.Logging.HitLogSampling.Key} = '{share}': expected a share from 0 (no routine lines) to 1 (all)");
    }

    private static bool Converts(string value, Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string)) return true;
        try
        {
            TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException or NotSupportedException)
        {
            return false;
        }
    }

    private static string Expected(Type type, string value) =>
        (Nullable.GetUnderlyingType(type) ?? type) == typeof(TimeSpan) ? Duration.Problem(value.Trim()) : "expected " + Describe(type);

    private static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(TimeSpan)) return Duration.Expected;
        if (t == typeof(bool)) return "true or false";
        if (t == typeof(int) || t == typeof(long)) return "a whole number";
        if (t == typeof(double)) return "a number such as 0.8";
        if (t == typeof(ByteSize)) return ByteSize.Expected;
        return t.Name;
    }
}

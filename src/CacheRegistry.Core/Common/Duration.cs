using System.ComponentModel;
using System.Globalization;
using System.Text.RegularExpressions;

namespace CacheRegistry.Common;

/// <summary>
/// Durations as people write them: <c>30s</c>, <c>10m</c>, <c>1h</c>, <c>2d</c>, <c>500ms</c>, or
/// several together (<c>1h30m</c>); or <c>hh:mm:ss</c> / <c>d.hh:mm:ss</c>. A bare number is
/// refused: <c>300</c> reads as seconds to some and as 300 days to .NET's own parser.
/// </summary>
public static partial class Duration
{
    public const string Expected = "a duration such as 30s, 10m, 1h, 2d or hh:mm:ss (00:05:00)";

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        if (s.Contains(':', StringComparison.Ordinal))
            return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value);
        var parts = Units().Matches(s);
        if (parts.Count == 0 || string.Concat(parts.Select(m => m.Value)) != s) return false;
        foreach (Match part in parts)
        {
            var n = double.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            value += part.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
        }
        return true;
    }

    /// <summary>For messages: 1 h, 30 min, 45 s, 2 d.</summary>
    public static string Format(TimeSpan d) => d switch
    {
        _ when d.TotalDays >= 1 && d.TotalDays == Math.Floor(d.TotalDays) => $"{d.TotalDays:0} d",
        _ when d.TotalHours >= 1 && d.TotalHours == Math.Floor(d.TotalHours) => $"{d.TotalHours:0} h",
        _ when d.TotalMinutes >= 1 && d.TotalMinutes == Math.Floor(d.TotalMinutes) => $"{d.TotalMinutes:0} min",
        _ => $"{d.TotalSeconds:0.#} s",
    };

    /// <summary>Why <paramref name="text"/> is not a duration, for an error line.</summary>
    public static string Problem(string text) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        ? $"a bare number is not a duration: write {text}s, {text}m… or hh:mm:ss"
        : "expected " + Expected;

    /// <summary>Makes the configuration binder (and the key check) read every TimeSpan this way, for the whole process.</summary>
    public static void UseForConfiguration() =>
        TypeDescriptor.AddAttributes(typeof(TimeSpan), new TypeConverterAttribute(typeof(DurationConverter)));

    [GeneratedRegex(@"(\d+(?:\.\d+)?)(ms|s|m|h|d)", RegexOptions.CultureInvariant)]
    private static partial Regex Units();
}

/// <summary>The TimeSpan converter the configuration binder uses once <see cref="Duration.UseForConfiguration"/> ran.</summary>
public sealed class DurationConverter : TimeSpanConverter
{
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text
            ? Duration.TryParse(text, out var duration) ? duration : throw new FormatException($"'{text}': {Duration.Problem(text.Trim())}")
            : base.ConvertFrom(context, culture, value);
}

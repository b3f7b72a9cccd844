using System.Globalization;
using System.Text;
using System.Text.Json;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Operations;

/// <summary>The ledger as a table, CSV or JSON: upstream, repository, tag, digest, size, time, endpoint, what a signature or attestation is about, and signature policies' decisions.</summary>
internal static class LedgerFormat
{
    public static readonly string[] Formats = ["table", "csv", "json"];
    // Media types keep their '+' (the default encoder writes \u002B).
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly string[] Columns = ["time", "upstream", "repository", "tag", "digest", "media_type", "size", "endpoint", "subject", "artifact_type", "policy", "verification", "signed_by"];

    public static string Render(IReadOnlyList<LedgerEntry> entries, string format) => format switch
    {
        "json" => JsonSerializer.Serialize(entries.Select(e => new
        {
            time = e.Time, upstream = e.Upstream, repository = e.Repository, tag = e.Tag, digest = e.Digest.ToString(),
            mediaType = e.MediaType, size = e.Size, endpoint = e.Endpoint, subject = e.Subject?.ToString(), artifactType = e.ArtifactType,
            policy = e.Check?.Policy, verification = e.Check?.Result, signedBy = e.Check?.Key,
        }), Json) + "\n",
        "csv" => Csv(entries),
        _ => Table(entries),
    };

    private static string[] Row(LedgerEntry e) =>
    [
        e.Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), e.Upstream, e.Repository, e.Tag ?? "",
        e.Digest.ToString(), e.MediaType, e.Size.ToString(CultureInfo.InvariantCulture), e.Endpoint, e.Subject?.ToString() ?? "", e.ArtifactType ?? "",
        e.Check?.Policy ?? "", e.Check?.Result ?? "", e.Check?.Key ?? "",
    ];

    private static string Csv(IReadOnlyList<LedgerEntry> entries)
    {
        var sb = new StringBuilder(string.Join(',', Columns)).Append('\n');
        foreach (var e in entries) sb.Append(string.Join(',', Row(e).Select(Quote))).Append('\n');
        return sb.ToString();

        static string Quote(string v) => v.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + v.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : v;
    }

    private static string Table(IReadOnlyList<LedgerEntry> entries)
    {
        var rows = entries.Select(Row).Prepend(Columns.Select(c => c.ToUpperInvariant()).ToArray()).ToList();
        var widths = Enumerable.Range(0, Columns.Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var r in rows) sb.Append(string.Join("  ", r.Select((v, i) => v.PadRight(widths[i]))).TrimEnd()).Append('\n');
        return sb.ToString();
    }

    /// <summary>A point in time as operators write it: an ISO 8601 date or time, or an age such as 24h or 7d.</summary>
    public static DateTimeOffset? Since(string? text, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)) return at;
        if (Duration.TryParse(text, out var age) && age >= TimeSpan.Zero) return now - age;
        throw new FormatException($"since '{text}': expected a date (2026-01-01, 2026-01-01T12:00:00Z) or an age (30m, 24h, 7d)");
    }
}

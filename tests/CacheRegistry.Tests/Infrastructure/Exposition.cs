using System.Globalization;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A scrape of <c>/metrics</c>, parsed: samples by name and labels.</summary>
public sealed class Exposition
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public Exposition(string text)
    {
        Text = text;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.LastIndexOf(' ');
            var series = line[..space];
            var value = line[(space + 1)..] switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, var v => double.Parse(v, CultureInfo.InvariantCulture) };
            var brace = series.IndexOf('{');
            var name = brace < 0 ? series : series[..brace];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (brace >= 0)
                foreach (var pair in series[(brace + 1)..^1].Split("\",", StringSplitOptions.RemoveEmptyEntries))
                {
                    var eq = pair.IndexOf('=');
                    labels[pair[..eq]] = pair[(eq + 2)..].TrimEnd('"');
                }
            _samples.Add((name, labels, value));
        }
    }

    public string Text { get; }

    public static async Task<Exposition> ScrapeAsync(string cacheUrl)
    {
        using var http = Net.NewHttpClient();
        using var response = await http.GetAsync(cacheUrl + "/metrics");
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        return new Exposition(await response.Content.ReadAsStringAsync());
    }

    /// <summary>The sum of the samples of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    public double Sum(string name, params (string Key, string Value)[] labels) =>
        _samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    public bool Has(string name) => _samples.Any(s => s.Name == name);

    /// <summary>Every label value of the cache's own series (<c>cacheregistry_*</c>).</summary>
    public IEnumerable<string> CacheLabelValues() =>
        _samples.Where(s => s.Name.StartsWith("cacheregistry_", StringComparison.Ordinal)).SelectMany(s => s.Labels.Values).Distinct();

    public IEnumerable<Dictionary<string, string>> LabelsOf(string name) => _samples.Where(s => s.Name == name).Select(s => s.Labels);
}

using System.Text.Json;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real Prometheus (Debian's package) on a free loopback port, scraping the given targets every second.</summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly string _dir = Net.TempDir("prometheus");
    private ServerProcess? _process;

    public int Port { get; } = Net.FreePort();
    public string Url => $"http://127.0.0.1:{Port}";

    public async Task StartAsync(string job, string[] targets, string? ruleFile = null)
    {
        var config = Path.Combine(_dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, (ruleFile is null ? "" : $"rule_files: ['{ruleFile}']\n") + $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: {job}
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"'{t}'"))}]
            """);
        _process = new ServerProcess(ProcessRunner.Require("prometheus"),
            ["--config.file=" + config, "--storage.tsdb.path=" + Path.Combine(_dir, "data"), "--web.listen-address=127.0.0.1:" + Port]);
        _process.Start();
        await Net.WaitForPortAsync(Port, "prometheus", () => _process.OutputText);
    }

    /// <summary>Runs an instant query and returns Prometheus' answer as it is (status, error, data).</summary>
    public async Task<JsonDocument> RawQueryAsync(string promql)
    {
        using var http = Net.NewHttpClient();
        using var response = await http.GetAsync($"{Url}/api/v1/query?query={Uri.EscapeDataString(promql)}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>The loaded alerting rules: name and health ("ok" once evaluated without error).</summary>
    public async Task<IReadOnlyList<(string Name, string Health)>> RulesAsync()
    {
        using var http = Net.NewHttpClient();
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"{Url}/api/v1/rules"));
        return doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => (r.GetProperty("name").GetString()!, r.GetProperty("health").GetString()!)).ToList();
    }

    /// <summary>An instant query's result: each series' labels and value.</summary>
    public async Task<IReadOnlyList<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        using var http = Net.NewHttpClient();
        var body = await http.GetStringAsync($"{Url}/api/v1/query?query={Uri.EscapeDataString(promql)}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => (r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
                double.Parse(r.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
    }

    public string Log => _process?.OutputText ?? "";

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

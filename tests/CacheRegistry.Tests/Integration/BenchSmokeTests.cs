using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// The benchmark harness on a tiny image, so it cannot rot. It asserts that the harness runs and
/// reports, and that no upstream byte is fetched twice — never a timing.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class BenchSmokeTests
{
    /// <summary>Runs bench/<paramref name="script"/> --smoke on the suite's build and returns its report.</summary>
    private static async Task<string> SmokeReportAsync(string script)
    {
        var report = Path.Combine(Net.TempDir("bench"), "report.md");
        var run = await ProcessRunner.RunAsync("python3",
            [RepoFiles.Path(Path.Combine("bench", script)), "--smoke", "--out", report, "--binary", Path.Combine(AppContext.BaseDirectory, "cacheregistry")],
            TimeSpan.FromMinutes(5));
        Assert.True(run.ExitCode == 0, run.Output);
        return await File.ReadAllTextAsync(report);
    }

    [Fact]
    public async Task The_benchmark_harness_runs_end_to_end_on_a_tiny_image()
    {
        var text = await SmokeReportAsync("bench.py");
        Assert.Contains("| cold pull, 2 clients: upstream bytes ÷ image bytes |", text);
        Assert.Matches(@"\| cold pull, 2 clients: upstream bytes ÷ image bytes \| [\d.]+ \| 1\.0\d \|", text);
        Assert.Contains("| peak RSS over the pulls and warm loads above |", text);
        // The replicas' cold pull fetched every upstream byte once, and the big layer too.
        Assert.Matches(@"\| same: upstream bytes ÷ image bytes, peak RSS of a replica \| 1\.0\d, ", text);
        Assert.Contains("idle connections open: requests/s, p99 |", text);
        Assert.DoesNotContain("crb-", (await ProcessRunner.RunAsync("ip", ["netns", "list"])).Output); // namespaces removed
    }

    [Fact]
    public async Task The_mirror_pool_benchmark_runs_end_to_end_on_a_tiny_layer()
    {
        var rows = (await SmokeReportAsync("pool.py")).Split('\n').Where(l => l.StartsWith("| 4 MB |", StringComparison.Ordinal)).ToList();
        Assert.Equal(10, rows.Count);
        // Every pull completed, and the pools fetched each byte once (mirror bytes ÷ layer at most 1.10).
        Assert.All(rows, r => Assert.EndsWith("| 0 |", r));
        Assert.All(rows.Where(r => r.Contains("pool", StringComparison.Ordinal)), r => Assert.InRange(double.Parse(r.Split('|')[5], System.Globalization.CultureInfo.InvariantCulture), 0.99, 1.10));
    }

    [Fact]
    public async Task The_push_benchmark_runs_end_to_end_on_a_tiny_layer()
    {
        var text = await SmokeReportAsync("push.py");
        Assert.Matches(@"\| one 8 MB layer, skopeo, median of 1 \| [\d.]+ s \(\d+ MB/s\) \| [\d.]+ s \(\d+ MB/s\) \| [\d.]+ s \(\d+ MB/s\) \| \*\*[\d.]+×\*\* \| \*\*[\d.]+×\*\* \| [\d.]+ s \| \d+ MiB \|", text);
    }
}

using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The README's offline first run, its lines run as written (ports and /tmp made the test's own).</summary>
[Collection(IntegrationCollection.Name)]
public sealed class ReadmeTests
{
    /// <summary>The command lines of the README's code block that turns the built-in upstreams off.</summary>
    private static string[] OfflineBlock()
    {
        var blocks = File.ReadAllText(RepoFiles.Path("README.md")).Split("```");
        var block = blocks.Where((_, i) => i % 2 == 1).Single(b => b.Contains("--Registry:BuiltInUpstreams=false", StringComparison.Ordinal));
        return block.Split('\n').Skip(1).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
    }

    [Fact]
    public async Task The_offline_try_it_lines_serve_a_pull_that_keeps_working_when_the_local_registry_stops()
    {
        var lines = OfflineBlock();
        Assert.Equal(3, lines.Length);
        var dir = Net.TempDir("offline");
        var port = Net.FreePort();
        string Here(string line) => line.Replace("127.0.0.1:5001", $"127.0.0.1:{port}", StringComparison.Ordinal).Replace("/tmp/", dir + "/", StringComparison.Ordinal);

        // The registry line without its trailing '&': the test holds the process to stop it later.
        Assert.EndsWith("&", lines[0]);
        await using var registry = new ServerProcess("bash", ["-c", Here(lines[0])[..^1]]);
        registry.Start();
        using var http = Net.NewHttpClient();
        await Net.WaitUntilAsync(async () => (await http.GetAsync($"http://127.0.0.1:{port}/v2/")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "the local registry");
        await ProcessRunner.RunCheckedAsync("bash", ["-c", Here(lines[1])], TimeSpan.FromMinutes(1));
        var upstreamDigest = await Skopeo.PullAsync($"127.0.0.1:{port}", "demo/hello:1");

        // The cache line's own arguments, given to the built binary (the line itself is `dotnet run … --`).
        var cacheLine = Here(lines[2]).Split(" -- ");
        Assert.Equal("dotnet run -c Release --project src/CacheRegistry.Server", cacheLine[0]);
        await using var cache = new CacheProcess(cacheLine[1].Split(' '));
        await cache.StartAsync();

        Assert.Equal(upstreamDigest, await Skopeo.PullAsync(cache.Address, "demo/hello:1"));
        await registry.KillAsync();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/v2/"));
        Assert.Equal(upstreamDigest, await Skopeo.PullAsync(cache.Address, "demo/hello:1"));
        // Built-in registries are off: no other registry is reachable through it.
        using var quay = await http.GetAsync($"{cache.Url}/v2/quay.io/library/alpine/manifests/3");
        await ApiTests.AssertErrorAsync(quay, HttpStatusCode.NotFound, "NAME_UNKNOWN");
        Directory.Delete(dir, recursive: true);
    }
}

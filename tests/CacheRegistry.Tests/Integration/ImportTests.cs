using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>Bundles from elsewhere are untrusted: hostile ones change nothing, incomplete ones are refused, tags move only when asked.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class ImportTests(UpstreamFixture fx)
{
    private static async Task<ProcessRunner.Result> ImportAsync(string bundle, string dataDir, params string[] extra) =>
        await Cli.RunAsync(["import", bundle, "--create", "--Registry:DataDir=" + dataDir, .. extra]);

    private static async Task<string> TarAsync(IEnumerable<(string, byte[])> entries, IEnumerable<(string, string)>? links = null)
    {
        var path = Path.Combine(Net.TempDir("bundle"), "b.tar");
        await HostileBundle.WriteAsync(path, entries, links);
        return path;
    }

    [Fact]
    public async Task Traversal_names_and_links_are_ignored_and_nothing_is_written_outside_the_stores()
    {
        var outside = Path.Combine(Net.TempDir("outside"), "pwned");
        var bundle = await TarAsync([.. HostileBundle.Of(fx.Small, "docker.io/library/small:1"),
            ("../../../../../../../../" + outside.TrimStart('/'), [1, 2, 3]), ("blobs/sha256/../../../evil", [4])],
            [("blobs/sha256/" + new string('a', 64), "/etc/passwd")]);
        var dataDir = Net.TempDir("trav");
        var run = await ImportAsync(bundle, dataDir);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("imported 1 images", run.Output);
        Assert.False(File.Exists(outside));
        Assert.Empty(Directory.EnumerateFiles(dataDir, "evil", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_header_claiming_two_gigabytes_is_refused_without_reading_them()
    {
        var bundle = Path.Combine(Net.TempDir("lying"), "b.tar");
        await HostileBundle.WriteLyingHeaderAsync(bundle, 2L * 1024 * 1024 * 1024);
        var run = await ImportAsync(bundle, Net.TempDir("lie"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("claims 2147483648 bytes", run.Output);
    }

    [Fact]
    public async Task A_bundle_missing_blobs_is_refused_before_anything_is_linked_unless_partial_is_allowed()
    {
        var bundle = await TarAsync(HostileBundle.Of(fx.Small, "docker.io/library/small:1", omit: 1));
        var dataDir = Net.TempDir("partial");
        var refused = await ImportAsync(bundle, dataDir);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("the bundle is incomplete: 1 blobs", refused.Output);
        var ledger = await Cli.RunAsync("ledger", "--format", "csv", "--Registry:DataDir=" + dataDir);
        Assert.DoesNotContain("library/small", ledger.Output);

        var partial = await ImportAsync(bundle, dataDir, "--allow-partial");
        Assert.True(partial.ExitCode == 0, partial.Output);
        Assert.Contains("warning: missing from the bundle and the cache", partial.Output);
        Assert.Contains("1 blobs missing", partial.Output);
    }

    [Fact]
    public async Task A_tag_that_would_move_is_reported_and_moved_only_with_force()
    {
        var dataDir = Net.TempDir("move");
        Assert.Equal(0, (await ImportAsync(await TarAsync(HostileBundle.Of(fx.Small, "docker.io/library/app:1")), dataDir)).ExitCode);
        var other = await TarAsync(HostileBundle.Of(fx.ForContainerd, "docker.io/library/app:1"));

        var kept = await ImportAsync(other, dataDir);
        Assert.Equal(1, kept.ExitCode);
        Assert.Contains($"docker.io/library/app:1 points at {fx.Small.Digest}", kept.Output);
        await using var cache = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:docker.io:Endpoints:0=http://127.0.0.1:" + Net.FreePort()]);
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "app:1"));
        await cache.StopAsync(); // stopped, not disposed: that would remove the data dir

        var moved = await ImportAsync(other, dataDir, "--force");
        Assert.True(moved.ExitCode == 0, moved.Output);
        Assert.Contains($"moved docker.io/library/app:1 from {fx.Small.Digest} to {fx.ForContainerd.Digest}", moved.Output);
    }

    [Fact]
    public async Task Names_of_registries_the_cache_does_not_serve_are_refused()
    {
        var run = await ImportAsync(await TarAsync(HostileBundle.Of(fx.Small, "evil.example.com/x:1")), Net.TempDir("unknown"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("registry 'evil.example.com' is not configured", run.Output);
    }

    [Fact]
    public async Task An_alias_is_imported_and_purged_under_the_registry_it_stands_for()
    {
        var dataDir = Net.TempDir("alias");
        Assert.Equal(0, (await ImportAsync(await TarAsync(HostileBundle.Of(fx.Small, "k8s.gcr.io/pause:3.9")), dataDir)).ExitCode);
        await using var cache = await CacheServer.StartWithArgsAsync(dataDir, ["--Registry:Upstreams:registry.k8s.io:Endpoints:0=http://127.0.0.1:" + Net.FreePort(),
            "--Registry:Admin:Token=admin"]);
        Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "registry.k8s.io/pause:3.9"));

        using var http = Net.NewHttpClient();
        using var purge = new HttpRequestMessage(HttpMethod.Post, $"{cache.Url}/admin/purge?image=k8s.gcr.io/pause:3.9");
        purge.Headers.Authorization = new("bearer", "admin"); // the scheme in any case
        (await http.SendAsync(purge)).EnsureSuccessStatusCode();
        using var gone = await http.GetAsync($"{cache.Url}/v2/registry.k8s.io/pause/manifests/3.9");
        Assert.False(gone.IsSuccessStatusCode);
    }
}

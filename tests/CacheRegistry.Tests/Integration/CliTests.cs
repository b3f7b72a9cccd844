using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The real binary's error paths: each one line on stderr, the documented exit code, no stack trace, nothing created by mistake.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class CliTests(UpstreamFixture fx)
{
    private static void AssertOneLineFailure(ProcessRunner.Result run, int exitCode, string expected)
    {
        Assert.True(run.ExitCode == exitCode, $"exit {run.ExitCode}, expected {exitCode}:\n{run.Output}");
        Assert.Contains(expected, run.Output);
        Assert.DoesNotContain("   at ", run.Output); // no stack trace
        Assert.DoesNotContain("Unhandled exception", run.Output);
    }

    [Theory]
    [InlineData("--Registry:TagTtl=abc", "Registry:TagTtl = 'abc': expected a duration such as 30s, 10m, 1h, 2d or hh:mm:ss")]
    [InlineData("--Registry:TagTtl=300", "Registry:TagTtl = '300': a bare number is not a duration: write 300s, 300m")]
    [InlineData("--Registry:Upstreams:docker.io:Endpoints=https://mirror.example", "Registry:Upstreams:docker.io:Endpoints = 'https://mirror.example': expected a list")]
    [InlineData("--Logging:Format=jsn", "Logging:Format = 'jsn': expected text or json")]
    [InlineData("--Regsitry:TagTtl=5m", "Regsitry: not a section CacheRegistry reads; did you mean Registry?")]
    [InlineData("--Registry:Cache:MaxSize=12XB", "Registry:Cache:MaxSize = '12XB': expected a size")]
    [InlineData("--Registry:Cache:LowWatermark=0.95", "expected 0 < LowWatermark < HighWatermark <= 1")]
    [InlineData("--Registry:DefaultUpstream=nope.io", "Registry:DefaultUpstream = 'nope.io': no such registry is configured")]
    [InlineData("--Registry:Upstreams:mirror.io:AliasOf=missing.io", "Registry:Upstreams:mirror.io:AliasOf = 'missing.io': no such registry")]
    [InlineData("--Registry:Storage:S3:Bukket=x", "Registry:Storage:S3:Bukket: not a key CacheRegistry reads")]
    [InlineData("--Registry:Storage:Kind=S3", "Registry:Storage:S3:Bucket: required")]
    [InlineData("--Registry:Storage:Kind=S3 --Registry:Storage:S3:Bucket=b --Registry:Storage:S3:PartSizeBytes=1024", "expected at least 5242880")]
    [InlineData("--Registry:Upstreams:docker.io:Endpoints:0=ftp://x", "expected an http(s) URL")]
    [InlineData("--Registry:EgressProxy=ftp://proxy:21", "expected http://host:port or socks5://host:port")]
    [InlineData("--Registry:BuiltInUpstreams=false --Registry:Upstreams:quay.io:Username=u", "Registry:Upstreams:quay.io: has no Endpoints (Registry:BuiltInUpstreams is false")]
    [InlineData("--Registry:BuiltInUpstreams=false --Registry:Upstreams:my.lan:Endpoints:0=http://127.0.0.1:9", "Registry:DefaultUpstream = 'docker.io': no such registry is configured")]
    [InlineData("--Registry:Cluster:AdvertiseUrl=http://10.0.0.1:5000", "Registry:Cluster:AdvertiseUrl and Secret: set both")]
    [InlineData("--Registry:Cluster:AdvertiseUrl=10.0.0.1:5000 --Registry:Cluster:Secret=0123456789abcdef0", "expected the http(s) URL other replicas reach this one at")]
    [InlineData("--Registry:Cluster:AdvertiseUrl=http://fd00::1:5000 --Registry:Cluster:Secret=0123456789abcdef0", "for an IPv6 address, http://[fd00::3]:5000")]
    public async Task A_bad_configuration_stops_the_start_with_one_line_per_problem_and_exit_2(string setting, string expected)
    {
        var dataDir = Net.TempDir("badconf");
        var run = await Cli.RunAsync(["serve", "--urls=http://127.0.0.1:" + Net.FreePort(), "--Registry:DataDir=" + dataDir, .. setting.Split(' ')]);
        AssertOneLineFailure(run, 2, expected);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dataDir)); // nothing was started
    }

    [Fact]
    public async Task A_config_file_is_read_with_durations_as_written_and_every_problem_reported_at_once()
    {
        var dir = Net.TempDir("conffile");
        var good = Path.Combine(dir, "good.json");
        await File.WriteAllTextAsync(good, """{ "Registry": { "TagTtl": "10m", "NegativeTtl": "30s", "Timeouts": { "Fill": "2h", "Idle": "00:01:30" } } }""");
        var accepted = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--only", "kubeadm", "--config", good);
        Assert.True(accepted.ExitCode == 0, accepted.Output);

        // Three problems in one file, all reported by one start.
        var bad = Path.Combine(dir, "bad.json");
        await File.WriteAllTextAsync(bad, """{ "Registry": { "TagTtl": 300, "Cache": { "LowWatermark": 0.95 } }, "Logging": { "Format": "jsn" } }""");
        var refused = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--config", bad);
        AssertOneLineFailure(refused, 2, "Registry:TagTtl = '300': a bare number is not a duration");
        Assert.Contains("Logging:Format = 'jsn'", refused.Output);
        Assert.Contains("LowWatermark", refused.Output);

        // A syntax error names the file, the line and the column.
        var broken = Path.Combine(dir, "broken.json");
        await File.WriteAllTextAsync(broken, "{\n  \"Registry\": {\n    \"TagTtl\": \"10m\"\n    \"NegativeTtl\": \"1m\"\n  }\n}\n");
        var unparsed = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--config", broken);
        AssertOneLineFailure(unparsed, 2, $"{broken}: line 4, column 5: not valid JSON");
    }

    [Fact]
    public async Task An_unknown_command_is_a_usage_error_and_creates_nothing()
    {
        var dir = Net.TempDir("typo");
        var run = await ProcessRunner.RunAsync(Path.Combine(AppContext.BaseDirectory, "cacheregistry"), ["ledgr"], TimeSpan.FromSeconds(30),
            workingDirectory: dir);
        AssertOneLineFailure(run, 2, "unknown command 'ledgr' (did you mean 'ledger'?)");
        Assert.False(Directory.Exists(Path.Combine(dir, "data")));
    }

    [Fact]
    public async Task Store_commands_run_where_there_is_no_cache_refuse_and_create_nothing()
    {
        var dir = Net.TempDir("nocache");
        foreach (var command in new[] { "ledger", "gc" })
        {
            var run = await Cli.RunAsync(command, "--Registry:DataDir=" + Path.Combine(dir, "data"));
            AssertOneLineFailure(run, 2, "there is no cache in");
        }
        var bundle = Path.Combine(Net.TempDir("nobundle"), "b.tar");
        await File.WriteAllBytesAsync(bundle, []);
        AssertOneLineFailure(await Cli.RunAsync("import", bundle, "--Registry:DataDir=" + Path.Combine(dir, "data")), 2, "or --create to start a new cache there");
        Assert.False(Directory.Exists(Path.Combine(dir, "data")));
    }

    [Fact]
    public async Task Client_config_gives_kubeadm_an_image_repository_only_for_a_registry_it_serves_and_a_misspelt_option_is_named()
    {
        var served = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--only", "kubeadm");
        Assert.Contains("imageRepository: mirror:5000/registry.k8s.io", served.Output);
        var notServed = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--only", "kubeadm",
            "--Registry:BuiltInUpstreams=false", "--Registry:Upstreams:docker.io:Endpoints:0=https://mirror.example");
        Assert.True(notServed.ExitCode == 0, notServed.Output);
        Assert.DoesNotContain("imageRepository:", notServed.Output);
        Assert.Contains("does not serve registry.k8s.io", notServed.Output);

        AssertOneLineFailure(await Cli.RunAsync("warm", "--plaform", "linux/amd64", "small:1"), 2, "unknown option '--plaform' (did you mean '--platform'?)");
    }

    [Fact]
    public async Task A_port_in_use_is_one_line_and_exit_1()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        var run = await Cli.RunAsync("serve", "--urls=" + cache.Url, "--Registry:DataDir=" + Net.TempDir("portuse"));
        AssertOneLineFailure(run, 1, "cannot listen");
    }

    [Fact]
    public async Task Operation_commands_fail_in_one_line_with_the_documented_code()
    {
        var missing = Path.Combine(Net.TempDir("cli"), "nope.txt");
        AssertOneLineFailure(await Cli.RunAsync("warm", "-f", missing), 2, "no such file");
        AssertOneLineFailure(await Cli.RunAsync("export", "--out", "/nonexistent-dir/x.tar", "small:1"), 2, "does not exist");
        var dir = Net.TempDir("importdir");
        AssertOneLineFailure(await Cli.RunAsync("import", dir, "--create", "--Registry:DataDir=" + Net.TempDir("i")), 2, "it is a directory");
        var badJson = Path.Combine(Net.TempDir("badjson"), "bad.tar");
        await HostileBundle.WriteAsync(badJson, [("index.json", "{ not json"u8.ToArray())]);
        AssertOneLineFailure(await Cli.RunAsync("import", badJson, "--create", "--Registry:DataDir=" + Net.TempDir("i")), 1, "index.json is not valid JSON");
        AssertOneLineFailure(await Cli.RunAsync("healthcheck", "not-a-url"), 2, "is not an http(s) URL");
        AssertOneLineFailure(await Cli.RunAsync("ledger", "--since", "yesterday", "--Registry:DataDir=" + Net.TempDir("l")), 2, "expected a date");
        AssertOneLineFailure(await Cli.RunAsync("warm", "small:1", "--server", $"http://127.0.0.1:{Net.FreePort()}"), 1, "FAILED");
        Assert.Contains("--urls", (await Cli.RunAsync("serve", "--help")).Output);
    }
}

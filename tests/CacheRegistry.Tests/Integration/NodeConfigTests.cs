using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// <c>client-config --install</c>, what the chart's node DaemonSet runs: containerd's hosts.toml
/// files written into certs.d exactly as client-config prints them, then on SIGTERM exactly those
/// taken back (the operator's own file restored, anything else untouched).
/// </summary>
public sealed class NodeConfigTests
{
    private static readonly string[] Config =
        ["--address", "10.96.0.50:5000", "--Registry:Upstreams:docker.io:Endpoints:0=http://127.0.0.1:1", "--Registry:Upstreams:registry.k8s.io:Endpoints:0=http://127.0.0.1:1"];

    [Fact]
    public async Task Writes_the_hosts_files_and_takes_back_exactly_those_when_stopped()
    {
        var certs = Net.TempDir("certs.d");
        Directory.CreateDirectory(Path.Combine(certs, "quay.io"));
        var operators = Path.Combine(certs, "quay.io", "hosts.toml");
        await File.WriteAllTextAsync(operators, "server = \"https://quay.io\"\n# the operator's own\n");
        Directory.CreateDirectory(Path.Combine(certs, "internal.corp"));
        var unrelated = Path.Combine(certs, "internal.corp", "hosts.toml");
        await File.WriteAllTextAsync(unrelated, "server = \"https://internal.corp\"\n");

        var printed = await Cli.RunAsync(["client-config", "--only", "containerd", .. Config]);
        Assert.Equal(0, printed.ExitCode);
        var expected = Blocks(printed.Output);
        Assert.Contains("docker.io", expected.Keys);
        Assert.Contains("_default", expected.Keys);

        await using var installer = new ServerProcess(Path.Combine(AppContext.BaseDirectory, "cacheregistry"), ["client-config", "--install", certs, .. Config]);
        installer.Start();
        await Net.WaitUntilAsync(() => Task.FromResult(installer.OutputText.Contains("waiting for the signal", StringComparison.Ordinal)), TimeSpan.FromSeconds(30),
            "the hosts files written\n" + installer.OutputText);
        foreach (var (host, content) in expected)
            Assert.Equal(content, await File.ReadAllTextAsync(Path.Combine(certs, host, "hosts.toml")));

        Assert.Equal(0, await installer.TerminateAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("took back", installer.OutputText);
        Assert.Equal("server = \"https://quay.io\"\n# the operator's own\n", await File.ReadAllTextAsync(operators));
        Assert.Equal("server = \"https://internal.corp\"\n", await File.ReadAllTextAsync(unrelated));
        Assert.Equal(["internal.corp", "quay.io"], Directory.EnumerateDirectories(certs).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task A_missing_certs_folder_is_a_one_line_error()
    {
        var result = await Cli.RunAsync(["client-config", "--install", "/nonexistent/certs.d", .. Config]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("mount the node's containerd certs.d folder there", result.Output);
    }

    /// <summary>client-config's containerd section: hosts.toml content by folder name.</summary>
    private static Dictionary<string, string> Blocks(string rendered)
    {
        const string prefix = "# /etc/containerd/certs.d/";
        return rendered.Split(prefix).Skip(1).ToDictionary(
            block => block[..block.IndexOf("/hosts.toml", StringComparison.Ordinal)],
            block => block[(block.IndexOf('\n') + 1)..]);
    }
}

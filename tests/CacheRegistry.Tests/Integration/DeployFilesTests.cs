using CacheRegistry.Server.Cli;
using CacheRegistry.Server.Hosting;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The files in deploy/ that the server reads are ones it accepts.</summary>
public sealed class DeployFilesTests
{
    [Fact]
    public async Task The_example_configuration_passes_the_servers_own_check()
    {
        var result = await Cli.RunAsync("client-config", "--address", "mirror.lan:5000", "--only", "kubeadm", "--config", RepoFiles.Path("deploy/cacheregistry.json"));
        Assert.True(result.ExitCode == 0, result.Output);
        var service = await File.ReadAllTextAsync(RepoFiles.Path("deploy/cacheregistry.service"));
        Assert.Contains("--config /etc/cacheregistry/config.json", service);
        Assert.Contains("TimeoutStopSec=40", service); // outlasts the 30 s drain
        Assert.Contains("EnvironmentFile=-/etc/cacheregistry/cacheregistry.env", service);
        Assert.Contains("// ", await File.ReadAllTextAsync(RepoFiles.Path("deploy/cacheregistry.json"))); // commented

        // Every variable the environment file names, uncommented, is a key the server reads.
        var variables = File.ReadLines(RepoFiles.Path("deploy/cacheregistry.env"))
            .Where(l => l.StartsWith("#Registry__", StringComparison.Ordinal)).Select(l => l[1..l.IndexOf('=', StringComparison.Ordinal)]).ToList();
        Assert.NotEmpty(variables);
        Assert.All(variables, v => Assert.True(ConfigurationKeys.IsKnown(v.Replace("__", ":", StringComparison.Ordinal)), v));
    }

    [Fact]
    public void Empty_lists_in_a_json_configuration_are_not_unknown_keys()
    {
        Assert.True(ConfigurationKeys.IsCollection("Registry:NoProxy"));
        Assert.True(ConfigurationKeys.IsCollection("Registry:Auth:Rules"));
        Assert.True(ConfigurationKeys.IsCollection("Registry:Upstreams:docker.io:Repositories"));
        Assert.False(ConfigurationKeys.IsCollection("Registry:TagTtl"));
        Assert.False(ConfigurationKeys.IsCollection("Registry:NoProxi"));
    }

    [Theory]
    [InlineData(null, "http://127.0.0.1:5000/healthz")]
    [InlineData("http://+:5000", "http://127.0.0.1:5000/healthz")]
    [InlineData("http://0.0.0.0:8080;https://0.0.0.0:8443", "http://127.0.0.1:8080/healthz")]
    [InlineData("http://127.0.0.1:41234/", "http://127.0.0.1:41234/healthz")]
    public void The_container_healthcheck_asks_the_servers_own_address(string? urls, string expected) =>
        Assert.Equal(expected, CommandLine.DefaultHealthUrl(urls));

    [Theory]
    [InlineData("/app/cacheregistry\0serve\0--urls=http://127.0.0.1:47310\0", "ASPNETCORE_URLS=http://+:5000\0", "http://127.0.0.1:47310")]
    [InlineData("/app/cacheregistry\0--urls\0http://0.0.0.0:6000\0", "", "http://0.0.0.0:6000")]
    [InlineData("/app/cacheregistry\0serve\0", "HOME=/\0ASPNETCORE_URLS=http://+:5000\0", "http://+:5000")]
    [InlineData("/sbin/init\0--urls=http://127.0.0.1:1\0", "", null)] // not the cache: the health check's own environment decides
    public void The_container_healthcheck_reads_how_the_server_was_started(string cmdline, string environ, string? expected)
    {
        var process = Net.TempDir("proc1");
        File.WriteAllText(Path.Combine(process, "cmdline"), cmdline);
        File.WriteAllText(Path.Combine(process, "environ"), environ);
        Assert.Equal(expected, CommandLine.ContainerServerUrls(process));
    }
}

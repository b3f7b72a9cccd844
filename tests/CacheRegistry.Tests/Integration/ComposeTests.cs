using System.Text.RegularExpressions;
using CacheRegistry.Server.Hosting;
using CacheRegistry.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// docker-compose.yml's CacheRegistry environment names only keys the server reads (a typo would
/// otherwise be one warning line in a running stack). ImageTests brings the stack up for real.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed partial class ComposeTests
{
    [GeneratedRegex(@"\$\{[A-Z_]+:-([^}]*)\}")]
    private static partial Regex DefaultInterpolation();

    /// <summary>The cacheregistry service's environment with ${VAR:-default} resolved to the defaults.</summary>
    private static Dictionary<string, string> ComposeEnvironment()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Path.Combine(RepoFiles.Root, "docker-compose.yml"))));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var service = (YamlMappingNode)((YamlMappingNode)root["services"])["cacheregistry"];
        // The image deploy/build-image.sh makes, run read-only, stopped with time for the drain.
        Assert.Equal("cacheregistry:latest", ((YamlScalarNode)service["image"]).Value);
        Assert.Equal("true", ((YamlScalarNode)service["read_only"]).Value);
        Assert.Equal("40s", ((YamlScalarNode)service["stop_grace_period"]).Value);
        return ((YamlMappingNode)service["environment"]).Children.ToDictionary(
            kv => ((YamlScalarNode)kv.Key).Value!,
            kv => DefaultInterpolation().Replace(((YamlScalarNode)kv.Value).Value!, m => m.Groups[1].Value));
    }

    [Fact]
    public void Every_registry_variable_in_the_compose_file_is_a_key_the_server_reads()
    {
        var keys = ComposeEnvironment().Keys.Where(k => k.StartsWith("Registry__", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(keys);
        Assert.All(keys, k => Assert.True(ConfigurationKeys.IsKnown(k.Replace("__", ":", StringComparison.Ordinal)), $"{k} is not read by the server"));
        Assert.True(ConfigurationKeys.IsKnown("Registry:Upstreams:docker.io:Endpoints:0"));
        Assert.False(ConfigurationKeys.IsKnown("Registry:Storage:S3:Bukket"));
        Assert.True(File.Exists(Path.Combine(RepoFiles.Root, "deploy", "Dockerfile")));
    }
}

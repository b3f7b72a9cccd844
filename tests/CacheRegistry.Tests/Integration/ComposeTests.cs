using System.Text.RegularExpressions;
using CacheRegistry.Server.Hosting;
using CacheRegistry.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// No Docker engine runs here, so docker-compose.yml is checked for what can be checked: its
/// CacheRegistry environment names only keys the server reads, and that environment, pointed at
/// a local redis-server and s3rver, serves a pull.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed partial class ComposeTests(UpstreamFixture fx, BackendsFixture backends)
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

    [Fact]
    public async Task The_server_starts_with_the_compose_environment_and_serves_a_pull()
    {
        var env = ComposeEnvironment();
        await using var s3 = new S3Server(env["Registry__Storage__S3__Bucket"]);
        await s3.StartAsync();
        // Service names become the local servers' addresses and MinIO's credentials s3rver's own;
        // everything else is exactly the compose file's.
        var environment = env.ToDictionary(kv => kv.Key, kv => (string?)kv.Value
            .Replace("http://minio:9000", s3.Url, StringComparison.Ordinal)
            .Replace("redis:6379", backends.Redis.Configuration, StringComparison.Ordinal));
        environment["Registry__Storage__S3__AccessKey"] = environment["Registry__Storage__S3__SecretKey"] = "S3RVER";
        environment["Registry__Metadata__KeyPrefix"] = $"compose{Guid.NewGuid():N}:"; // the shared test Redis
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url], environment);
        await cache.StartAsync();

        try
        {
            Assert.Equal(fx.Small.Digest, await Skopeo.PullAsync(cache.Address, "small:1"));
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(e.Message + "\nserver log:\n" + cache.Log, e);
        }
        Assert.Contains("blobs (s3 ", cache.Log);
        Assert.Contains("metadata (redis ", cache.Log);
        Assert.DoesNotContain("is not one CacheRegistry reads", cache.Log);
    }
}

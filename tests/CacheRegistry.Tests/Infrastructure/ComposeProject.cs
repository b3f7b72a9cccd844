namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// The project's docker-compose.yml run by docker-compose under a project name of its own, with an
/// override that swaps the third-party images for tests/compose-standins and points the cache's
/// docker.io at the test upstream. Only the compose file's own variables are set: the published
/// port, and MinIO's keys (s3rver's pair).
/// </summary>
public sealed class ComposeProject : IAsyncDisposable
{
    private readonly string _dir = Net.TempDir("compose");
    private readonly Dictionary<string, string> _environment;

    public ComposeProject(IReadOnlyDictionary<string, string> dockerEnvironment, int port)
    {
        Port = port;
        _environment = new(dockerEnvironment)
        {
            ["CACHEREGISTRY_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MINIO_ROOT_USER"] = "S3RVER",
            ["MINIO_ROOT_PASSWORD"] = "S3RVER",
        };
    }

    public string Project { get; } = "cr" + Guid.NewGuid().ToString("N")[..10];
    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Where the cache's docker.io points (written into the override before the next command).</summary>
    public string UpstreamUrl { get; set; } = "http://127.0.0.1:9"; // the discard port: nothing answers

    public async Task<string> RunAsync(params string[] args)
    {
        var overrideFile = Path.Combine(_dir, "override.yml");
        await File.WriteAllTextAsync(overrideFile, $"""
            services:
              cacheregistry:
                environment:
                  Registry__Upstreams__docker.io__Endpoints__0: {UpstreamUrl}
              redis:
                image: cacheregistry-standin-redis:test
              minio:
                image: cacheregistry-standin-minio:test
              minio-init:
                image: cacheregistry-standin-minio:test
            """);
        return await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("docker-compose"),
            ["-p", Project, "--project-directory", RepoFiles.Root, "-f", RepoFiles.Path("docker-compose.yml"), "-f", overrideFile, .. args],
            TimeSpan.FromMinutes(5), _environment);
    }

    /// <summary>The id of the service's container.</summary>
    public async Task<string> ContainerAsync(string service) => (await RunAsync("ps", "-q", service)).Trim();

    /// <summary>Every service's log, for failure messages.</summary>
    public async Task<string> LogsAsync()
    {
        try
        {
            return await RunAsync("logs", "--no-color", "--tail", "200");
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            return "(no logs: " + e.Message + ")";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync(ProcessRunner.Require("docker-compose"),
            ["-p", Project, "--project-directory", RepoFiles.Root, "-f", RepoFiles.Path("docker-compose.yml"), "-f", Path.Combine(_dir, "override.yml"), "down", "-v", "-t", "5"],
            TimeSpan.FromMinutes(2), _environment);
        Directory.Delete(_dir, recursive: true);
    }
}

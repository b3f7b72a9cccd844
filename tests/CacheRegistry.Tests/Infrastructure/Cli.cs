namespace CacheRegistry.Tests.Infrastructure;

/// <summary>The real cacheregistry binary as a command-line tool.</summary>
public static class Cli
{
    public static Task<ProcessRunner.Result> RunAsync(params string[] args) =>
        ProcessRunner.RunAsync(Path.Combine(AppContext.BaseDirectory, "cacheregistry"), args, TimeSpan.FromMinutes(3));
}

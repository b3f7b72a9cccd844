namespace CacheRegistry.Server.Hosting;

/// <summary>The server's configuration sources, for commands that run without the web host.</summary>
internal static class Configuration
{
    public static IConfiguration Build(string[] args) => new ConfigurationBuilder()
        .SetBasePath(AppContext.BaseDirectory)
        .AddJsonFile("appsettings.json", optional: true)
        .AddEnvironmentVariables()
        .AddCommandLine(args)
        .Build();

    public static RegistryOptions Load(string[] args) => RegistryOptionsLoader.Load(Build(args));
}

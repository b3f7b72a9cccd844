using CacheRegistry.Server.Hosting;
using CacheRegistry.Server.Storage;

namespace CacheRegistry.Server.Cli;

/// <summary>The cache's services on its configured stores, for commands that run beside (or without) the server.</summary>
public static class CliServices
{
    public static ServiceProvider Build(string[] configArgs)
    {
        var configuration = Configuration.Build(configArgs);
        var options = RegistryOptionsLoader.Load(configuration);
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        CacheRegistryApp.AddCacheRegistry(services, options);
        services.AddStores(configuration, options, server: false);
        return services.BuildServiceProvider();
    }
}

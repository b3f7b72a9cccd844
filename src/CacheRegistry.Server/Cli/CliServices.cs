using CacheRegistry.Server.Hosting;
using CacheRegistry.Server.Storage;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Cli;

/// <summary>The cache's services on its configured stores, for commands that run beside (or without) the server.</summary>
internal static class CliServices
{
    /// <param name="create">Whether the command may start an empty cache where there is none.</param>
    /// <param name="createsOnRequest">Whether the command has a --create option to name in the error.</param>
    public static ServiceProvider Build(string[] configArgs, bool create = false, bool createsOnRequest = false)
    {
        var configuration = Configuration.Build(configArgs);
        var settings = SettingsLoader.Load(configuration);
        var options = settings.Registry;
        // A command run from the wrong directory must not quietly make an empty cache there.
        if (!create && settings.Metadata.Kind.Equals("Sqlite", StringComparison.OrdinalIgnoreCase) && !File.Exists(Path.Combine(options.DataDir, "metadata.db")))
            throw new UsageException($"there is no cache in {options.DataDir} (no metadata.db); run in the server's directory or pass --Registry:DataDir=<its data dir>"
                + (createsOnRequest ? ", or --create to start a new cache there" : ""));
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        CacheRegistryApp.AddCacheRegistry(services, settings);
        services.AddStores(settings.Stores(server: false));
        var provider = services.BuildServiceProvider();
        Console.Error.WriteLine($"cacheregistry: data dir {options.DataDir}; stores: {string.Join("; ", provider.GetServices<IHealthProbe>().Select(s => s.Name))}");
        return provider;
    }
}

using CacheRegistry.Cache;
using CacheRegistry.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CacheRegistry.Server.Storage;

/// <summary>Registers the configured blob and metadata back ends, each found by its Kind.</summary>
internal static class StoreRegistration
{
    public static void AddStores(this IServiceCollection services, StoreSettings settings)
    {
        // The kinds were checked at start (KindRules); a missing one here is a bug, not a configuration problem.
        BackEnds.Blobs.Find(settings.Storage.Kind)!.Add(services, settings);
        BackEnds.Metadata.Find(settings.Metadata.Kind)!.Add(services, settings);
        services.TryAddSingleton<IFillLease, LocalFillLease>();
        services.TryAddSingleton<CacheRegistry.Maintenance.IMaintenanceLock, CacheRegistry.Maintenance.LocalMaintenanceLock>();
        services.AddStore(sp => new SpoolDirectory(settings.Registry.DataDir, sp.GetRequiredService<StoreHealth>(), clear: settings.Server));
    }

    /// <summary>
    /// Registers one instance of <typeparamref name="T"/>, and the same instance for every Core
    /// interface it implements (blob store, metadata store, index, ledger, health probe…).
    /// </summary>
    public static IServiceCollection AddStore<T>(this IServiceCollection services, Func<IServiceProvider, T> create) where T : class
    {
        services.AddSingleton(create);
        foreach (var contract in typeof(T).GetInterfaces().Where(i => i.Namespace is "CacheRegistry.Storage" or "CacheRegistry.Cache"))
            services.AddSingleton(contract, sp => sp.GetRequiredService<T>());
        return services;
    }
}

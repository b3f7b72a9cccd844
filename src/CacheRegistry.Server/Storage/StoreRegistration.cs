using CacheRegistry.Cache;
using CacheRegistry.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using CacheRegistry.Server.Storage.FileSystem;
using CacheRegistry.Server.Storage.Redis;
using CacheRegistry.Server.Storage.S3;
using CacheRegistry.Server.Storage.Sqlite;

namespace CacheRegistry.Server.Storage;

/// <summary>Picks the blob and metadata back ends from configuration; each back end registers itself with one call.</summary>
internal static class StoreRegistration
{
    /// <param name="server">True when the stores belong to the server (which clears leftovers of crashed fills at start).</param>
    public static void AddStores(this IServiceCollection services, IConfiguration configuration, RegistryOptions options, bool server = true)
    {
        var storage = StorageOptions.Of(configuration);
        var metadata = MetadataOptions.Of(configuration);
        switch (storage.Kind.ToLowerInvariant())
        {
            case "filesystem": services.AddFileSystemBlobs(options); break;
            case "s3": services.AddS3Blobs(storage.S3, server); break;
            default: throw new InvalidOperationException($"invalid configuration: Registry:Storage:Kind = '{storage.Kind}'; use FileSystem or S3");
        }
        switch (metadata.Kind.ToLowerInvariant())
        {
            case "sqlite": services.AddSqliteMetadata(options); break;
            case "redis": services.AddRedisMetadata(metadata, sharedBlobs: storage.Kind.Equals("s3", StringComparison.OrdinalIgnoreCase)); break;
            default: throw new InvalidOperationException($"invalid configuration: Registry:Metadata:Kind = '{metadata.Kind}'; use Sqlite or Redis");
        }
        services.TryAddSingleton<IFillLease, LocalFillLease>();
        services.TryAddSingleton<CacheRegistry.Maintenance.IMaintenanceLock, CacheRegistry.Maintenance.LocalMaintenanceLock>();
        services.AddStore(sp => new SpoolDirectory(options.DataDir, sp.GetRequiredService<StoreHealth>(), clear: server));
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

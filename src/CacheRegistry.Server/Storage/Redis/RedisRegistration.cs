using CacheRegistry.Cache;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Redis;

internal static class RedisRegistration
{
    /// <summary>
    /// Metadata in Redis, shared by replicas. When they share the blob store too, they share one
    /// download per digest through a lease, and one evictor at a time; with blobs on each replica's own disk they could not
    /// use each other's download, so each fills on its own.
    /// </summary>
    public static IServiceCollection AddRedisMetadata(this IServiceCollection services, MetadataOptions metadata, bool sharedBlobs)
    {
        services.AddStore(sp => new RedisMetadataStore(metadata, sp.GetRequiredService<StoreHealth>()));
        // Tokens, passthrough decisions, "not found" answers and quota counts, shared by the replicas.
        services.AddSingleton<CacheRegistry.Cluster.ISharedState, RedisSharedState>();
        if (sharedBlobs)
        {
            services.AddSingleton<IFillLease, RedisFillLease>();
            services.AddSingleton<CacheRegistry.Maintenance.IMaintenanceLock, RedisMaintenanceLock>(); // one evictor at a time on the shared bucket
        }
        return services;
    }
}

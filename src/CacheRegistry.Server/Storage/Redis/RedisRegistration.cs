using CacheRegistry.Cache;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Redis;

public static class RedisRegistration
{
    /// <summary>Metadata in Redis, shared by replicas, which also share one download per digest through a lease.</summary>
    public static IServiceCollection AddRedisMetadata(this IServiceCollection services, MetadataOptions metadata)
    {
        services.AddStore(sp => new RedisMetadataStore(metadata, sp.GetRequiredService<StoreHealth>()));
        services.AddSingleton<IFillLease, RedisFillLease>();
        return services;
    }
}

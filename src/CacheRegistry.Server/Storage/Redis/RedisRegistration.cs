using CacheRegistry.Cache;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Redis;

internal static class RedisRegistration
{
    /// <summary>Metadata in Redis, shared by replicas.</summary>
    public static BackEnd<MetadataOptions> BackEnd { get; } = new("Redis", Add, new Rules(), Shared: true);

    /// <summary>
    /// When the replicas share the blob store too, they share one download per digest through a
    /// lease, and one evictor at a time; with blobs on each replica's own disk they could not use
    /// each other's download, so each fills on its own.
    /// </summary>
    private static void Add(IServiceCollection services, StoreSettings settings)
    {
        services.AddStore(sp => new RedisMetadataStore(settings.Metadata, sp.GetRequiredService<StoreHealth>()));
        // Tokens, passthrough decisions, "not found" answers and quota counts, shared by the replicas.
        services.AddSingleton<CacheRegistry.Cluster.ISharedState, RedisSharedState>();
        if (BackEnds.Blobs.Find(settings.Storage.Kind) is { Shared: true })
        {
            services.AddSingleton<IFillLease, RedisFillLease>();
            services.AddSingleton<CacheRegistry.Maintenance.IMaintenanceLock, RedisMaintenanceLock>(); // one evictor at a time on the shared bucket
        }
    }

    private sealed class Rules : OptionRules<MetadataOptions>
    {
        protected override void Check(MetadataOptions o, OptionProblems p)
        {
            try
            {
                StackExchange.Redis.ConfigurationOptions.Parse(o.Configuration);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                p.Add($"Registry:Metadata:Configuration = '{o.Configuration}': not a Redis connection string ({e.Message})");
            }
        }
    }
}

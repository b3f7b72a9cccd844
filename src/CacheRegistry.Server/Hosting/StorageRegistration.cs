using CacheRegistry.Cache;
using CacheRegistry.Server.Storage;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>Picks the blob and metadata back ends from configuration: one registration line each.</summary>
public static class StorageRegistration
{
    /// <param name="server">True when the stores belong to the server (which clears leftovers of crashed fills at start).</param>
    public static void AddStores(this IServiceCollection services, IConfiguration configuration, RegistryOptions options, bool server = true)
    {
        var storage = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        var metadata = configuration.GetSection(MetadataOptions.Section).Get<MetadataOptions>() ?? new MetadataOptions();
        services.AddSingleton(storage);
        services.AddSingleton(metadata);

        switch (storage.Kind.ToLowerInvariant())
        {
            case "filesystem":
                services.AddSingleton(_ => new FileSystemBlobStore(options.DataDir, clearTmp: server));
                services.AddSingleton<IBlobStore>(sp => sp.GetRequiredService<FileSystemBlobStore>());
                services.AddSingleton<IBlobInventory>(sp => sp.GetRequiredService<FileSystemBlobStore>());
                services.AddSingleton<IHealthProbe>(sp => sp.GetRequiredService<FileSystemBlobStore>());
                break;
            case "s3":
                services.AddSingleton(sp => new S3BlobStore(storage.S3, options.DataDir, sp.GetRequiredService<ILogger<S3BlobStore>>(), clearSpool: server));
                services.AddSingleton<IBlobStore>(sp => sp.GetRequiredService<S3BlobStore>());
                services.AddSingleton<IBlobInventory>(sp => sp.GetRequiredService<S3BlobStore>());
                services.AddSingleton<IHealthProbe>(sp => sp.GetRequiredService<S3BlobStore>());
                if (server) services.AddHostedService<S3UploadSweeper>();
                break;
            default:
                throw new InvalidOperationException($"invalid configuration: Registry:Storage:Kind = '{storage.Kind}'; use FileSystem or S3");
        }

        switch (metadata.Kind.ToLowerInvariant())
        {
            case "sqlite":
                services.AddSingleton(_ => new SqliteMetadataStore(options.DataDir));
                services.AddSingleton<IMetadataStore>(sp => sp.GetRequiredService<SqliteMetadataStore>());
                services.AddSingleton<IBlobIndex>(sp => sp.GetRequiredService<SqliteMetadataStore>());
                services.AddSingleton<IMetadataCatalog>(sp => sp.GetRequiredService<SqliteMetadataStore>());
                services.AddSingleton<ILedger>(sp => sp.GetRequiredService<SqliteMetadataStore>());
                services.AddSingleton<IHealthProbe>(sp => sp.GetRequiredService<SqliteMetadataStore>());
                services.AddSingleton<IFillLease, LocalFillLease>();
                break;
            case "redis":
                services.AddSingleton(_ => new RedisMetadataStore(metadata));
                services.AddSingleton<IMetadataStore>(sp => sp.GetRequiredService<RedisMetadataStore>());
                services.AddSingleton<IBlobIndex>(sp => sp.GetRequiredService<RedisMetadataStore>());
                services.AddSingleton<IMetadataCatalog>(sp => sp.GetRequiredService<RedisMetadataStore>());
                services.AddSingleton<ILedger>(sp => sp.GetRequiredService<RedisMetadataStore>());
                services.AddSingleton<IHealthProbe>(sp => sp.GetRequiredService<RedisMetadataStore>());
                services.AddSingleton<IFillLease, RedisFillLease>(); // replicas share one download per digest
                break;
            default:
                throw new InvalidOperationException($"invalid configuration: Registry:Metadata:Kind = '{metadata.Kind}'; use Sqlite or Redis");
        }
    }
}

using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.S3;

internal static class S3Registration
{
    /// <summary>Blobs in an S3-compatible bucket; the server also sweeps stale multipart uploads.</summary>
    public static IServiceCollection AddS3Blobs(this IServiceCollection services, S3Options s3, bool server)
    {
        services.AddStore(sp => new S3BlobStore(s3, sp.GetRequiredService<ILogger<S3BlobStore>>(), sp.GetRequiredService<StoreHealth>()));
        if (server) services.AddHostedService<S3UploadSweeper>();
        return services;
    }
}

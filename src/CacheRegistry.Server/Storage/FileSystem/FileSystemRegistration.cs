using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.FileSystem;

internal static class FileSystemRegistration
{
    /// <summary>Blobs as files under the data dir (the embedded default).</summary>
    public static IServiceCollection AddFileSystemBlobs(this IServiceCollection services, RegistryOptions options) =>
        services.AddStore(sp => new FileSystemBlobStore(options.DataDir, sp.GetRequiredService<StoreHealth>()));
}

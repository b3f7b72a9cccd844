using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.FileSystem;

internal static class FileSystemRegistration
{
    /// <summary>Blobs as files under the data dir (the embedded default).</summary>
    public static BackEnd<StorageOptions> BackEnd { get; } = new("FileSystem", (services, settings) =>
        services.AddStore(sp => new FileSystemBlobStore(settings.Registry.DataDir, sp.GetRequiredService<StoreHealth>())));
}

using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Sqlite;

internal static class SqliteRegistration
{
    /// <summary>Tags, manifests, links, the blob index and the ledger in one SQLite file (the embedded default).</summary>
    public static BackEnd<MetadataOptions> BackEnd { get; } = new("Sqlite", (services, settings) =>
        services.AddStore(sp => new SqliteMetadataStore(settings.Registry.DataDir, sp.GetRequiredService<StoreHealth>())));
}

using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Sqlite;

internal static class SqliteRegistration
{
    /// <summary>Tags, manifests, links, the blob index and the ledger in one SQLite file (the embedded default).</summary>
    public static IServiceCollection AddSqliteMetadata(this IServiceCollection services, RegistryOptions options) =>
        services.AddStore(sp => new SqliteMetadataStore(options.DataDir, sp.GetRequiredService<StoreHealth>()));
}

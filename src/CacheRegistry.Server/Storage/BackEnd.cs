namespace CacheRegistry.Server.Storage;

/// <summary>What a back end's registration reads: the sections, bound once at start.</summary>
/// <param name="Server">True when the stores belong to the server (which clears leftovers of crashed fills at start), false for a command.</param>
internal sealed record StoreSettings(RegistryOptions Registry, StorageOptions Storage, MetadataOptions Metadata, bool Server);

/// <summary>
/// One store back end, chosen by its <c>Kind</c>: how it registers its services and the rules its
/// settings must keep. A new back end is one of these, added to <see cref="BackEnds"/>.
/// </summary>
/// <param name="Shared">Whether replicas share what it holds (their fills then share one download through a lease).</param>
internal sealed record BackEnd<T>(string Kind, Action<IServiceCollection, StoreSettings> Add, OptionRules<T>? Rules = null, bool Shared = false) where T : class;

/// <summary>The back ends there are, by section.</summary>
internal static class BackEnds
{
    /// <summary><c>Registry:Storage:Kind</c>: where blobs are kept.</summary>
    public static IReadOnlyList<BackEnd<StorageOptions>> Blobs { get; } = [FileSystem.FileSystemRegistration.BackEnd, S3.S3Registration.BackEnd];

    /// <summary><c>Registry:Metadata:Kind</c>: where tags, manifests, the blob index and the ledger are kept.</summary>
    public static IReadOnlyList<BackEnd<MetadataOptions>> Metadata { get; } = [Sqlite.SqliteRegistration.BackEnd, Redis.RedisRegistration.BackEnd];

    public static BackEnd<T>? Find<T>(this IReadOnlyList<BackEnd<T>> all, string kind) where T : class =>
        all.FirstOrDefault(b => b.Kind.Equals(kind, StringComparison.OrdinalIgnoreCase));
}

/// <summary>A section's <c>Kind</c> names a back end there is; then that back end's own rules.</summary>
internal sealed class KindRules<T>(string section, IReadOnlyList<BackEnd<T>> all, Func<T, string> kindOf) : OptionRules<T> where T : class
{
    protected override void Check(T o, OptionProblems p)
    {
        var kind = kindOf(o);
        if (all.Find(kind) is not { } backEnd)
            p.Add($"{section}:Kind = '{kind}': expected {string.Join(" or ", all.Select(b => b.Kind))}");
        else if (backEnd.Rules?.Validate(null, o) is { Failed: true, Failures: { } failures })
            p.AddRange(failures);
    }
}

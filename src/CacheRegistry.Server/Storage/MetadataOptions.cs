namespace CacheRegistry.Server.Storage;

/// <summary><c>Registry:Metadata</c>: which metadata store, and the Redis settings when it is Redis.</summary>
internal sealed class MetadataOptions
{
    public const string Section = "Registry:Metadata";
    /// <summary>A metadata back end's Kind (<see cref="BackEnds.Metadata"/>): <c>Sqlite</c> (default) or <c>Redis</c>.</summary>
    public string Kind { get; set; } = "Sqlite";
    /// <summary>StackExchange.Redis connection string, e.g. <c>redis:6379,password=…</c>.</summary>
    public string Configuration { get; set; } = "localhost:6379";
    /// <summary>The Redis password kept out of the connection string (the chart passes it from a Secret); over the string's own.</summary>
    public string? Password { get; set; }
    public string KeyPrefix { get; set; } = "cacheregistry:";

    public static OptionRules<MetadataOptions> Rules { get; } = new KindRules<MetadataOptions>(Section, BackEnds.Metadata, m => m.Kind);
}

using CacheRegistry.Server.Storage.S3;

namespace CacheRegistry.Server.Storage;

/// <summary><c>Registry:Storage</c>: which blob store, and the S3 settings when it is S3.</summary>
internal sealed class StorageOptions
{
    public const string Section = "Registry:Storage";
    /// <summary>A blob back end's Kind (<see cref="BackEnds.Blobs"/>): <c>FileSystem</c> (default) or <c>S3</c>.</summary>
    public string Kind { get; set; } = "FileSystem";
    public S3Options S3 { get; set; } = new();

    public static OptionRules<StorageOptions> Rules { get; } = new KindRules<StorageOptions>(Section, BackEnds.Blobs, s => s.Kind);
}

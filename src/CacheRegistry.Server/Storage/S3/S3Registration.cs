using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.S3;

internal static class S3Registration
{
    private const int MinPartBytes = 5 * 1024 * 1024;

    /// <summary>Blobs in an S3-compatible bucket, shared by replicas; the server also sweeps stale multipart uploads.</summary>
    public static BackEnd<StorageOptions> BackEnd { get; } = new("S3", Add, new Rules(), Shared: true);

    private static void Add(IServiceCollection services, StoreSettings settings)
    {
        services.AddStore(sp => new S3BlobStore(settings.Storage.S3, sp.GetRequiredService<ILogger<S3BlobStore>>(), sp.GetRequiredService<StoreHealth>()));
        if (settings.Server) services.AddHostedService<S3UploadSweeper>();
    }

    private sealed class Rules : OptionRules<StorageOptions>
    {
        protected override void Check(StorageOptions o, OptionProblems p)
        {
            var s3 = o.S3;
            p.Require(!string.IsNullOrWhiteSpace(s3.Bucket), "Registry:Storage:S3:Bucket: required when Registry:Storage:Kind is S3");
            p.Require(s3.ServiceUrl is not { Length: > 0 } url || (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"),
                $"Registry:Storage:S3:ServiceUrl = '{s3.ServiceUrl}': expected an http(s) URL");
            p.Require(s3.PartSizeBytes >= MinPartBytes,
                $"Registry:Storage:S3:PartSizeBytes = {s3.PartSizeBytes}: expected at least {MinPartBytes} (S3 refuses smaller parts, so every upload would fail)");
            p.Positive("Registry:Storage:S3", ("RequestTimeout", s3.RequestTimeout));
            p.Require(s3.RedirectExpiry > TimeSpan.Zero && s3.RedirectExpiry <= TimeSpan.FromDays(7),
                $"Registry:Storage:S3:RedirectExpiry = {s3.RedirectExpiry}: expected more than zero and at most 7 days (S3's limit)");
        }
    }
}


namespace CacheRegistry.Server.Storage.S3;

/// <summary>
/// Aborts multipart uploads that crashed processes left behind: at start, then hourly. Runs in
/// the background so an unreachable S3 never delays the start.
/// </summary>
public sealed class S3UploadSweeper(S3BlobStore store, RegistryOptions options, ILogger<S3UploadSweeper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1));
        do
        {
            try
            {
                await store.AbortStaleUploadsAsync(options.Timeouts.Fill, stoppingToken);
            }
            catch (Amazon.S3.AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotImplemented)
            {
                log.LogInformation("s3: the service cannot list multipart uploads ({Reason}); stale uploads are left to its own expiry rules", e.Message);
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                log.LogWarning("s3: stale upload sweep failed, will retry: {Reason}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}

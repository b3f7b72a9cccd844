
namespace CacheRegistry.Server.Storage.S3;

/// <summary>
/// Aborts multipart uploads that crashed processes left behind: at start, then hourly. Runs in
/// the background so an unreachable S3 never delays the start.
/// </summary>
internal sealed partial class S3UploadSweeper(S3BlobStore store, RegistryOptions options, TimeProvider time, ILogger<S3UploadSweeper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
        do
        {
            try
            {
                await store.AbortStaleUploadsAsync(options.Timeouts.Fill, stoppingToken);
            }
            catch (Amazon.S3.AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotImplemented)
            {
                Log.CannotList(log, e.Message);
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                Log.SweepFailed(log, e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 502, Level = LogLevel.Information, Message = "s3: the service cannot list multipart uploads ({Reason}); stale uploads are left to its own expiry rules")]
        public static partial void CannotList(ILogger logger, string reason);

        [LoggerMessage(EventId = 503, Level = LogLevel.Warning, Message = "s3: stale upload sweep failed, will retry: {Reason}")]
        public static partial void SweepFailed(ILogger logger, string reason);
    }
}

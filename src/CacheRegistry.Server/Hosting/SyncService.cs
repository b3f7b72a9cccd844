using System.Text.Json;
using System.Text.RegularExpressions;
using CacheRegistry.Oci;
using CacheRegistry.Server.Operations;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Keeps <c>Registry:Sync</c> entries fresh: each image (or each matching tag of a repository) is
/// pulled through this server every interval, so tags are revalidated and new layers fetched
/// before anyone asks for them.
/// </summary>
internal sealed partial class SyncService(RegistryOptions options, SelfAddress self, Auth.InternalCaller caller, IHostApplicationLifetime life, TimeProvider time,
    ILogger<SyncService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Sync.Count == 0) return;
        // The first round pulls through this server: not before it listens (else it fails and waits a whole interval).
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (life.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        using var http = caller.CreateClient();
        var due = options.Sync.Select(_ => DateTimeOffset.MinValue).ToArray();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10), time);
        do
        {
            for (var i = 0; i < options.Sync.Count; i++)
            {
                if (time.GetUtcNow() < due[i]) continue;
                due[i] = time.GetUtcNow() + options.Sync[i].Interval;
                try
                {
                    await SyncAsync(options.Sync[i], new Warmer(new ImageWalker(http, self.Get()) { Referrers = options.Sync[i].Referrers }), http, stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    Log.Failed(log, options.Sync[i].Image ?? options.Sync[i].Repository, e.Message);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task SyncAsync(SyncEntry entry, Warmer warmer, HttpClient http, CancellationToken ct)
    {
        var images = new List<ImageReference>();
        if (entry.Image is not null) images.Add(ImageReference.Parse(entry.Image));
        if (entry.Repository is not null)
        {
            var repository = ImageReference.Parse(entry.Repository);
            using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(self.Get(), $"/v2/{repository.FullName}/tags/list"), ct));
            var pattern = new Regex(entry.Tags, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            images.AddRange(doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!)
                // Signature tags (sha256-<hex>.sig) sort after versions; they come with their image, not instead of it.
                .Where(t => pattern.IsMatch(t) && !Referrer.IsSubjectTag(t))
                .TakeLast(entry.MaxTags).Select(t => repository with { Tag = t, Digest = null }));
        }
        foreach (var image in images)
        {
            var r = await warmer.WarmAsync(image, entry.Platform, null, ct);
            Log.Synced(log, r.Image, r.Ok ? "ok" : r.Error, r.Blobs, r.Bytes, r.Elapsed.TotalSeconds);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 630, Level = LogLevel.Warning, Message = "sync {Entry}: {Reason}")]
        public static partial void Failed(ILogger logger, string? entry, string reason);

        [LoggerMessage(EventId = 631, Level = LogLevel.Information, Message = "sync {Image}: {Outcome}, {Blobs} blobs, {Bytes} bytes in {Seconds:F1} s")]
        public static partial void Synced(ILogger logger, string image, string? outcome, int blobs, long bytes, double seconds);
    }
}

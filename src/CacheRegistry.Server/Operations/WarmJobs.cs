using System.Collections.Concurrent;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

/// <summary>
/// Warm runs started from the admin API, each in the background (stopped at shutdown), with
/// progress to look at. Finished jobs are kept for an hour, and at most <see cref="MaxKept"/>.
/// </summary>
internal sealed partial class WarmJobs(SelfAddress self, Auth.InternalCaller caller, BackgroundWork work, TimeProvider time, ILogger<WarmJobs> log) : IDisposable
{
    public const int MaxKept = 100;
    private static readonly TimeSpan KeptFor = TimeSpan.FromHours(1);

    internal sealed class Job
    {
        public required string Id { get; init; }
        public required IReadOnlyList<string> Images { get; init; }
        public string State { get; set; } = "running";
        public DateTimeOffset? Finished { get; set; }
        public ConcurrentQueue<string> Progress { get; } = new();
        public ConcurrentQueue<WarmResult> Results { get; } = new();
    }

    private readonly ConcurrentDictionary<string, Job> _jobs = new();
    private readonly HttpClient _http = caller.CreateClient();

    public Job Start(IReadOnlyList<ImageReference> images, string? platform, bool referrers)
    {
        Prune();
        var job = new Job { Id = Guid.NewGuid().ToString("N")[..12], Images = images.Select(i => i.ToString()).ToList() };
        _jobs[job.Id] = job;
        _ = Task.Run(async () =>
        {
            var warmer = new Warmer(new ImageWalker(_http, self.Get()) { Referrers = referrers });
            try
            {
                foreach (var image in images)
                {
                    var result = await warmer.WarmAsync(image, platform, job.Progress.Enqueue, work.Stopping);
                    job.Results.Enqueue(result);
                    Log.Warmed(log, result.Image, result.Ok ? "ok" : result.Error, result.Bytes, result.Elapsed.TotalSeconds);
                }
                job.State = job.Results.All(r => r.Ok) ? "done" : "failed";
            }
            catch (OperationCanceledException)
            {
                job.State = "cancelled"; // the server is stopping
            }
            job.Finished = time.GetUtcNow();
        });
        return job;
    }

    public Job? Find(string id) => _jobs.GetValueOrDefault(id);

    private void Prune()
    {
        var finished = _jobs.Values.Where(j => j.Finished is not null).OrderByDescending(j => j.Finished).ToList();
        foreach (var job in finished.Where((j, i) => i >= MaxKept || time.GetUtcNow() - j.Finished > KeptFor))
            _jobs.TryRemove(job.Id, out _);
    }

    public void Dispose() => _http.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 640, Level = LogLevel.Information, Message = "warm {Image}: {Outcome} {Bytes} bytes in {Seconds:F1} s")]
        public static partial void Warmed(ILogger logger, string image, string? outcome, long bytes, double seconds);
    }
}

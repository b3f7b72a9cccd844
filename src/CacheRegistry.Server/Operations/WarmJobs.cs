using System.Collections.Concurrent;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

/// <summary>Warm runs started from the admin API, each in the background, with progress to look at.</summary>
public sealed class WarmJobs(SelfAddress self, ILogger<WarmJobs> log)
{
    public sealed class Job
    {
        public required string Id { get; init; }
        public required IReadOnlyList<string> Images { get; init; }
        public string State { get; set; } = "running";
        public ConcurrentQueue<string> Progress { get; } = new();
        public ConcurrentQueue<WarmResult> Results { get; } = new();
    }

    private readonly ConcurrentDictionary<string, Job> _jobs = new();
    private static readonly HttpClient Http = new() { Timeout = Timeout.InfiniteTimeSpan };

    public Job Start(IReadOnlyList<ImageReference> images, string? platform)
    {
        var job = new Job { Id = Guid.NewGuid().ToString("N")[..12], Images = images.Select(i => i.ToString()).ToList() };
        _jobs[job.Id] = job;
        _ = Task.Run(async () =>
        {
            var warmer = new Warmer(new ImageWalker(Http, self.Get()));
            foreach (var image in images)
            {
                var result = await warmer.WarmAsync(image, platform, job.Progress.Enqueue, CancellationToken.None);
                job.Results.Enqueue(result);
                log.LogInformation("warm {Image}: {Outcome} {Bytes} bytes in {Seconds:F1} s", result.Image, result.Ok ? "ok" : result.Error, result.Bytes, result.Elapsed.TotalSeconds);
            }
            job.State = job.Results.All(r => r.Ok) ? "done" : "failed";
        });
        return job;
    }

    public Job? Find(string id) => _jobs.GetValueOrDefault(id);
}

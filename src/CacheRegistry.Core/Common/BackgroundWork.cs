namespace CacheRegistry.Common;

/// <summary>
/// The owner of work that outlives the request that started it: blob fills, manifest fetches
/// shared by several requests, warm jobs. Each piece runs on a token that ends at its own bound or
/// when the process stops (after running fills had their grace), whichever comes first.
/// </summary>
public sealed class BackgroundWork(TimeProvider? time = null) : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public CancellationToken Stopping => _stopping.Token;

    /// <summary>A token for one piece of work: cancelled after <paramref name="bound"/> or at stop.</summary>
    public Deadline Bounded(TimeSpan bound) => new(bound, _time, _stopping.Token);

    public Task StopAsync() => _stopping.CancelAsync();

    public void Dispose() => _stopping.Dispose();
}

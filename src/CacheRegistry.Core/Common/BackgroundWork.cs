namespace CacheRegistry.Common;

/// <summary>
/// The owner of work that outlives the request that started it: blob fills, manifest fetches
/// shared by several requests, warm jobs. Each piece runs on a token that ends at its own bound or
/// when the process stops (after running fills had their grace), whichever comes first.
/// </summary>
public sealed class BackgroundWork : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    public CancellationToken Stopping => _stopping.Token;

    /// <summary>A token for one piece of work: cancelled after <paramref name="bound"/> or at stop.</summary>
    public CancellationTokenSource Bounded(TimeSpan bound)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        cts.CancelAfter(bound);
        return cts;
    }

    public Task StopAsync() => _stopping.CancelAsync();

    public void Dispose() => _stopping.Dispose();
}

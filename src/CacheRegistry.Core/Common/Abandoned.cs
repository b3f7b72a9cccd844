namespace CacheRegistry.Common;

/// <summary>Tasks whose result nobody waits for any more: a race's loser, an opening that lost to a failure.</summary>
public static class Abandoned
{
    /// <summary>Disposes what the task leaves behind when it ends, and observes its failure.</summary>
    public static void DisposeWhenDone<T>(this Task<T> task) where T : IDisposable? =>
        _ = task.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) t.Result?.Dispose();
            else _ = t.Exception;
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
}

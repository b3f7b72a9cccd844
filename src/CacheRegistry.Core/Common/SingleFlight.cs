using System.Collections.Concurrent;

namespace CacheRegistry.Common;

/// <summary>
/// Runs one operation per key at a time; concurrent callers share its result. The operation runs
/// detached from any one caller, so a caller hanging up does not fail it for the others.
/// </summary>
public sealed class SingleFlight<TKey, TValue> where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Lazy<Task<TValue>>> _inFlight = new();

    public Task<TValue> RunAsync(TKey key, Func<Task<TValue>> operation, CancellationToken ct)
    {
        var lazy = _inFlight.GetOrAdd(key, k => new Lazy<Task<TValue>>(() => RunAndForget(k, operation)));
        return lazy.Value.WaitAsync(ct);
    }

    private async Task<TValue> RunAndForget(TKey key, Func<Task<TValue>> operation)
    {
        try
        {
            return await Task.Run(operation);
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
        }
    }
}

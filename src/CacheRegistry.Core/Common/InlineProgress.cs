namespace CacheRegistry.Common;

/// <summary>Reports on the caller's thread, in order. <see cref="Progress{T}"/> posts each report
/// to the thread pool, so lines can arrive out of order and after the work has returned.</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

namespace CacheRegistry.Common;

/// <summary>
/// A token that ends after a delay on the given clock (<see cref="TimeProvider"/>, so tests can
/// move it), or when the caller's token does: the clock-aware form of a linked source with
/// <c>CancelAfter</c>.
/// </summary>
public sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenRegistration _link;

    public Deadline(TimeSpan delay, TimeProvider time, CancellationToken caller = default)
    {
        _timer = new CancellationTokenSource(delay, time);
        _link = caller.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _timer);
    }

    public CancellationToken Token => _timer.Token;

    public void Dispose()
    {
        _link.Dispose(); // waits for a running cancel, so the source is not disposed under it
        _timer.Dispose();
    }
}

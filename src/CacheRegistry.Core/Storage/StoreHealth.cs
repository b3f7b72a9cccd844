using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Storage;

/// <summary>
/// What every store's <see cref="StoreCircuit"/> needs: the deadline of one call, how often a store
/// marked down is probed, a clock, logs, and the process's stop (which ends the probing).
/// </summary>
public sealed record StoreHealth(TimeSpan CallTimeout, TimeSpan ProbeInterval, TimeProvider Time, ILoggerFactory Logs)
{
    public static StoreHealth Default { get; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeProvider.System, NullLoggerFactory.Instance);

    public CancellationToken Stopping { get; init; }

    public static StoreHealth From(TimeoutOptions timeouts, TimeProvider time, ILoggerFactory logs, CancellationToken stopping) =>
        new(timeouts.Store, timeouts.StoreProbe, time, logs) { Stopping = stopping };
}

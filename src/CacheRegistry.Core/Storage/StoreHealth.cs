using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Storage;

/// <summary>What every store's <see cref="StoreCircuit"/> needs: the deadline of one call, how often a store marked down is probed, a clock and logs.</summary>
public sealed record StoreHealth(TimeSpan CallTimeout, TimeSpan ProbeInterval, TimeProvider Time, ILoggerFactory Logs)
{
    public static StoreHealth Default { get; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeProvider.System, NullLoggerFactory.Instance);

    public static StoreHealth From(TimeoutOptions timeouts, TimeProvider time, ILoggerFactory logs) => new(timeouts.Store, timeouts.StoreProbe, time, logs);
}

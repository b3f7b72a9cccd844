using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// <c>Logging:HitSampling</c>: the share of routine request lines written — requests answered
/// from the cache, and successful pings, probes and scrapes — from 1 (all, the default) to 0
/// (none); 0.01 writes every hundredth. Misses, stale answers and failures are always written.
/// Follows configuration reloads.
/// </summary>
internal sealed class HitLogSampling : IDisposable
{
    public const string Key = "Logging:HitSampling";
    private readonly IDisposable _subscription;
    private double _share = 1;
    private long _seen;

    public HitLogSampling(IConfiguration configuration)
    {
        Read(configuration);
        _subscription = ChangeToken.OnChange(configuration.GetReloadToken, () => Read(configuration));
    }

    /// <summary>Whether this routine line is one to write: spread evenly, every 1/share-th one.</summary>
    public bool Take()
    {
        var share = Volatile.Read(ref _share);
        if (share >= 1) return true;
        if (share <= 0) return false;
        var n = Interlocked.Increment(ref _seen);
        return (long)(n * share) != (long)((n - 1) * share);
    }

    private void Read(IConfiguration configuration)
    {
        var text = configuration[Key];
        var share = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s is >= 0 and <= 1 ? s : 1;
        Volatile.Write(ref _share, share);
    }

    public void Dispose() => _subscription.Dispose();
}

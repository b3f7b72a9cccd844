using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// <c>Logging:HitSampling</c>: the share of routine request lines written — requests answered
/// from the cache, and successful pings, probes and scrapes — from 1 (all) to 0 (none); the
/// default 0.01 writes every hundredth, so a busy mirror's log is its misses and failures, which
/// are always written, and the hit path does not pay for a line per request. Follows configuration reloads.
/// </summary>
internal sealed class HitLogSampling : IDisposable
{
    public const string Key = "Logging:HitSampling";
    public const double DefaultShare = 0.01;
    private readonly IDisposable _subscription;
    private double _share = DefaultShare;
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
        var share = text is null ? DefaultShare : TryParse(text, out var s) ? s : 1;
        Volatile.Write(ref _share, share);
    }

    /// <summary>A share from 0 to 1, as the key holds it.</summary>
    public static bool TryParse(string text, out double share) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out share) && share is >= 0 and <= 1;

    public void Dispose() => _subscription.Dispose();
}

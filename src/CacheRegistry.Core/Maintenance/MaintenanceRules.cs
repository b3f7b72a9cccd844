namespace CacheRegistry.Maintenance;

/// <summary><c>Registry:Cache</c>: the size limit, eviction and GC.</summary>
public sealed class MaintenanceRules : OptionRules<CacheOptions>
{
    protected override void Check(CacheOptions o, OptionProblems p)
    {
        var c = o;
        p.PositiveSize("Registry:Cache:MaxSize", c.MaxSize);
        p.Require(c.LowWatermark is > 0 and < 1 && c.HighWatermark is > 0 and <= 1 && c.LowWatermark < c.HighWatermark,
            $"Registry:Cache:LowWatermark = {c.LowWatermark}, HighWatermark = {c.HighWatermark}: expected 0 < LowWatermark < HighWatermark <= 1");
        p.Positive("Registry:Cache", ("MaintenanceInterval", c.MaintenanceInterval));
        p.NotNegative("Registry:Cache", ("GcInterval", c.GcInterval), ("GcGrace", c.GcGrace));
    }
}

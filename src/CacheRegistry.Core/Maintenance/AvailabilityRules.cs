namespace CacheRegistry.Maintenance;

/// <summary><c>Registry:Availability</c>: the image-availability check's schedule.</summary>
public sealed class AvailabilityRules : OptionRules<AvailabilityOptions>
{
    protected override void Check(AvailabilityOptions o, OptionProblems p)
    {
        var a = o;
        p.Positive("Registry:Availability", ("Window", a.Window), ("Interval", a.Interval));
        p.Require(a.ChecksPerInterval > 0, $"Registry:Availability:ChecksPerInterval = {a.ChecksPerInterval}: expected more than zero");
    }
}

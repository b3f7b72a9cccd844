namespace CacheRegistry;

/// <summary><c>Registry:Fill</c>: how blob downloads resume and how replicas share them.</summary>
public sealed class FillOptions
{
    /// <summary>Times a dropped upstream connection is resumed (with Range) before the fill fails.</summary>
    public int ResumeAttempts { get; set; } = 5;
    /// <summary>First back-off between resumes; doubled each time, at most 30 s.</summary>
    public TimeSpan ResumeBackoff { get; set; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Lifetime of a replica's lease on a digest; renewed while its fill runs.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long a replica waits for another replica's fill before downloading itself.</summary>
    public TimeSpan LeaseWait { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>How often a waiting replica looks for the other's commit.</summary>
    public TimeSpan LeasePoll { get; set; } = TimeSpan.FromMilliseconds(250);
}

namespace CacheRegistry;

/// <summary><c>Registry:Timeouts</c>: every network and store call is bounded by one of these.</summary>
public sealed class TimeoutOptions
{
    /// <summary>TCP and TLS connect to an upstream.</summary>
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>From sending a request to its response headers.</summary>
    public TimeSpan FirstByte { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Longest silence while a body is read.</summary>
    public TimeSpan Idle { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Upper bound for one blob fill, which goes on after its client hangs up.</summary>
    public TimeSpan Fill { get; set; } = TimeSpan.FromHours(2);
    /// <summary>On shutdown, how long running fills may go on before they are cancelled.</summary>
    public TimeSpan Shutdown { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Deadline of one store call (Redis, S3, SQLite, the disk); past it the store counts as down.</summary>
    public TimeSpan Store { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How often a store marked down is probed; requests skip it until a probe succeeds.</summary>
    public TimeSpan StoreProbe { get; set; } = TimeSpan.FromSeconds(5);
}

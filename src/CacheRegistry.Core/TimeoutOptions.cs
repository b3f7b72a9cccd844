namespace CacheRegistry;

public sealed class TimeoutOptions
{
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>From sending a request to its response headers.</summary>
    public TimeSpan FirstByte { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Longest silence while a body is read.</summary>
    public TimeSpan Idle { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Upper bound for one blob fill, which goes on after its client hangs up.</summary>
    public TimeSpan Fill { get; set; } = TimeSpan.FromHours(2);
    /// <summary>On shutdown, how long running fills may go on before they are cancelled.</summary>
    public TimeSpan Shutdown { get; set; } = TimeSpan.FromSeconds(30);
}

namespace CacheRegistry.Storage;

/// <summary>A dependency that /readyz asks: null when it answers, otherwise what is wrong with it.</summary>
public interface IHealthProbe
{
    string Name { get; }
    Task<string?> CheckAsync(CancellationToken ct);
}

public static class HealthProbes
{
    /// <summary>The probe's answer, with a probe that throws or does not answer in time counted as a failing store.</summary>
    public static async Task<string?> ProblemAsync(this IHealthProbe probe, CancellationToken ct)
    {
        try
        {
            return await probe.CheckAsync(ct).WaitAsync(ct);
        }
        #pragma warning disable CA1031 // a probe that throws is a failing store, reported as such
        catch (Exception e)
        {
            return e.Message;
        }
        #pragma warning restore CA1031
    }
}

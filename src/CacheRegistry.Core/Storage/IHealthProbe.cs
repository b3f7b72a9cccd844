namespace CacheRegistry.Storage;

/// <summary>A dependency that /readyz asks: null when it answers, otherwise what is wrong with it.</summary>
public interface IHealthProbe
{
    string Name { get; }
    Task<string?> CheckAsync(CancellationToken ct);
}

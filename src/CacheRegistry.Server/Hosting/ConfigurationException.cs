namespace CacheRegistry.Server.Hosting;

/// <summary>The configuration cannot be used: every problem, one line each, naming the key, the value and what is expected.</summary>
internal sealed class ConfigurationException(IReadOnlyList<string> problems)
    : Exception("invalid configuration:\n  " + string.Join("\n  ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

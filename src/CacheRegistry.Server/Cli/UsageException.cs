namespace CacheRegistry.Server.Cli;

/// <summary>A command was given something it cannot work with (exit 2), as distinct from one that ran and failed (exit 1).</summary>
internal sealed class UsageException(string message) : Exception(message);

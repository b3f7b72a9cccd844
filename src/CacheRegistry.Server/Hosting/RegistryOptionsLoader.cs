using CacheRegistry.Server.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Checks every <c>Registry</c> key and binds the options: a bad configuration stops the start (or
/// a command) with one line per problem, before anything listens or touches a store.
/// </summary>
internal static class RegistryOptionsLoader
{
    // Also here for hosts built without Program (tests): durations as operators write them.
    static RegistryOptionsLoader() => Duration.UseForConfiguration();

    /// <summary>Binds the options, or throws with every problem found in one round: the keys' and the rules'.</summary>
    public static RegistryOptions Load(IConfiguration configuration)
    {
        var unbindable = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var problems = ConfigurationValidator.KeyProblems(configuration, unbindable);
        // Values that do not convert are left out, so the rules are still checked on everything else.
        var bindable = unbindable.Count == 0 ? configuration
            : new ConfigurationBuilder().AddInMemoryCollection(configuration.AsEnumerable().Where(kv => !unbindable.Contains(kv.Key))).Build();
        var options = bindable.GetSection(RegistryOptions.Section).Get<RegistryOptions>() ?? new RegistryOptions();
        options.DataDir = Path.GetFullPath(options.DataDir);
        problems.AddRange(ConfigurationValidator.RuleProblems(options, StorageOptions.Of(bindable), MetadataOptions.Of(bindable)));
        if (problems.Count > 0) throw new ConfigurationException(problems);
        return options;
    }
}

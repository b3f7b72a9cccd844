namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Checks every <c>Registry</c> key and binds the settings: a bad configuration stops the start (or
/// a command) with one line per problem, before anything listens or touches a store.
/// </summary>
internal static class SettingsLoader
{
    // Also here for hosts built without Program (tests): durations as operators write them.
    static SettingsLoader() => Duration.UseForConfiguration();

    /// <summary>Binds the settings, or throws with every problem found in one round: the keys' and every section's rules'.</summary>
    public static Settings Load(IConfiguration configuration)
    {
        var unbindable = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var problems = ConfigurationValidator.KeyProblems(configuration, unbindable);
        // Values that do not convert are left out, so the rules are still checked on everything else.
        var bindable = unbindable.Count == 0 ? configuration
            : new ConfigurationBuilder().AddInMemoryCollection(configuration.AsEnumerable().Where(kv => !unbindable.Contains(kv.Key))).Build();
        var settings = Settings.Bind(bindable);
        foreach (var section in OptionSections.All) section.Check(settings, problems);
        if (problems.Count > 0) throw new ConfigurationException(problems);
        return settings;
    }
}

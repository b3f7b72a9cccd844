using CacheRegistry.Server.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Checks every <c>Registry</c> key and binds the options: a bad configuration stops the start (or
/// a command) with one line per problem, before anything listens or touches a store.
/// </summary>
internal static class RegistryOptionsLoader
{
    public static RegistryOptions Load(IConfiguration configuration)
    {
        var problems = ConfigurationValidator.KeyProblems(configuration);
        if (problems.Count > 0) throw new ConfigurationException(problems);
        var options = configuration.GetSection(RegistryOptions.Section).Get<RegistryOptions>() ?? new RegistryOptions();
        options.DataDir = Path.GetFullPath(options.DataDir);
        problems = ConfigurationValidator.RuleProblems(options, StorageOptions.Of(configuration), MetadataOptions.Of(configuration));
        if (problems.Count > 0) throw new ConfigurationException(problems);
        return options;
    }
}

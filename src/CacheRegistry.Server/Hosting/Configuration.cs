namespace CacheRegistry.Server.Hosting;

/// <summary>The server's configuration sources, for commands that run without the web host.</summary>
internal static class Configuration
{
    /// <summary><c>--config path</c> (or the <c>Config</c> key from the environment): a JSON file read after appsettings.json.</summary>
    public const string FileKey = "Config";

    public static IConfiguration Build(string[] args)
    {
        var builder = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args);
        AddFile(builder, builder.Build(), args);
        return builder.Build();
    }

    /// <summary>
    /// Adds the <c>--config</c> file, watched for changes (log levels and sampling follow it without
    /// a restart), with the environment and the command line still taking precedence over it.
    /// </summary>
    public static void AddFile(IConfigurationBuilder builder, IConfiguration current, string[] args)
    {
        if (current[FileKey] is not { Length: > 0 } path) return;
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new ConfigurationException([$"--config {path}: there is no such file"]);
        builder.AddJsonFile(full, optional: false, reloadOnChange: true);
        builder.AddEnvironmentVariables();
        builder.AddCommandLine(args);
    }

    public static RegistryOptions Load(string[] args) => RegistryOptionsLoader.Load(Build(args));
}

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
        return Readable(builder.Build, args);
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
        // The web host's configuration reads a source as it is added: a syntax error surfaces here.
        Readable(() => builder.AddJsonFile(full, optional: false, reloadOnChange: true), args);
        builder.AddEnvironmentVariables();
        builder.AddCommandLine(args);
    }

    public static RegistryOptions Load(string[] args) => SettingsLoader.Load(Build(args)).Registry;

    /// <summary>Runs <paramref name="read"/>; a JSON file that does not parse becomes a problem naming the file, line and column.</summary>
    private static T Readable<T>(Func<T> read, string[] args)
    {
        try
        {
            return read();
        }
        catch (InvalidDataException e)
        {
            var json = e.InnerException?.InnerException as System.Text.Json.JsonException ?? e.InnerException as System.Text.Json.JsonException;
            var where = json is { LineNumber: long line } ? $": line {line + 1}, column {(json.BytePositionInLine ?? 0) + 1}" : "";
            var file = e.Message.Split('\'') is [_, var name, ..] ? name : "the configuration file";
            throw new ConfigurationException([$"{file}{where}: not valid JSON ({json?.Message.Split([" Path:", " LineNumber:"], StringSplitOptions.None)[0] ?? e.InnerException?.Message ?? e.Message})"]);
        }
    }
}

using CacheRegistry.Server.Http;
using CacheRegistry.Server.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Every configuration section the server reads, bound once at start (<see cref="SettingsLoader"/>):
/// the cache's (<see cref="RegistryOptions"/> and its parts) and the server's own.
/// </summary>
internal sealed class Settings
{
    public RegistryOptions Registry { get; set; } = new();
    public StorageOptions Storage { get; set; } = new();
    public MetadataOptions Metadata { get; set; } = new();
    public TlsOptions Tls { get; set; } = new();
    public UiOptions Ui { get; set; } = new();
    public AdminOptions Admin { get; set; } = new();
    public LimitsOptions Limits { get; set; } = new();

    public StoreSettings Stores(bool server) => new(Registry, Storage, Metadata, server);

    /// <summary>Binds every section of <see cref="OptionSections.All"/> that is read on its own.</summary>
    public static Settings Bind(IConfiguration configuration)
    {
        var settings = new Settings();
        foreach (var section in OptionSections.All) section.Bind(configuration, settings);
        settings.Registry.DataDir = Path.GetFullPath(settings.Registry.DataDir);
        return settings;
    }

    /// <summary>The sections as <c>IOptions&lt;T&gt;</c>, and <see cref="RegistryOptions"/> itself, which the cache's classes take.</summary>
    public void Register(IServiceCollection services)
    {
        services.AddSingleton(Registry);
        foreach (var section in OptionSections.All) section.Register(services, this);
    }
}

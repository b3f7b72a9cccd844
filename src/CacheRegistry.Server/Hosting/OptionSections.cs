using CacheRegistry.Cache;
using CacheRegistry.Cluster;
using CacheRegistry.Maintenance;
using CacheRegistry.Server.Http;
using CacheRegistry.Server.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Options;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Every configuration section: where it is, its options type and the rules of the feature it
/// configures (which live beside that feature). The known keys, the binding and the start-up
/// check all come from this one list.
/// </summary>
internal static class OptionSections
{
    public static IReadOnlyList<OptionSection> All { get; } =
    [
        OptionSection.Bound(RegistryOptions.Section, s => s.Registry, (s, v) => s.Registry = v, new CachingRules(), new UpstreamRules(), new SyncRules(),
            new CacheRegistry.Signing.PolicyRules()),
        OptionSection.Part("Registry:Cache", s => s.Registry.Cache, new MaintenanceRules()),
        OptionSection.Part("Registry:Availability", s => s.Registry.Availability, new AvailabilityRules()),
        OptionSection.Part("Registry:Cluster", s => s.Registry.Cluster, new ClusterRules()),
        OptionSection.Part("Registry:Telemetry", s => s.Registry.Telemetry, new Telemetry.TelemetrySetup.Rules()),
        OptionSection.Part("Registry:Auth", s => s.Registry.Auth, new Auth.AccessPolicy.Rules()),
        OptionSection.Part("Registry:Timeouts", s => s.Registry.Timeouts),
        OptionSection.Part("Registry:Fill", s => s.Registry.Fill),
        OptionSection.Bound(StorageOptions.Section, s => s.Storage, (s, v) => s.Storage = v, StorageOptions.Rules),
        OptionSection.Bound(MetadataOptions.Section, s => s.Metadata, (s, v) => s.Metadata = v, MetadataOptions.Rules),
        OptionSection.Bound(TlsOptions.Section, s => s.Tls, (s, v) => s.Tls = v, new TlsCertificate.Rules()),
        OptionSection.Bound(UiOptions.Section, s => s.Ui, (s, v) => s.Ui = v),
        OptionSection.Bound(AdminOptions.Section, s => s.Admin, (s, v) => s.Admin = v),
        OptionSection.Bound(LimitsOptions.Section, s => s.Limits, (s, v) => s.Limits = v, new RequestLimits.Rules()),
    ];
}

/// <summary>One section of <see cref="OptionSections.All"/>.</summary>
internal abstract class OptionSection(string path, Type type)
{
    public string Path => path;
    public Type Type => type;

    /// <summary>Read from the configuration on its own; a part is bound with the section that holds it.</summary>
    public abstract bool IsBound { get; }

    public abstract void Bind(IConfiguration configuration, Settings settings);

    /// <summary>The rules checked on this section.</summary>
    public abstract IEnumerable<object> Rules { get; }

    /// <summary>Adds one line per broken rule to <paramref name="problems"/>.</summary>
    public abstract void Check(Settings settings, List<string> problems);

    public abstract void Register(IServiceCollection services, Settings settings);

    public static OptionSection Bound<T>(string path, Func<Settings, T> value, Action<Settings, T> set, params IValidateOptions<T>[] rules) where T : class, new() =>
        new OptionSection<T>(path, value, set, rules);

    public static OptionSection Part<T>(string path, Func<Settings, T> value, params IValidateOptions<T>[] rules) where T : class, new() =>
        new OptionSection<T>(path, value, null, rules);
}

internal sealed class OptionSection<T>(string path, Func<Settings, T> value, Action<Settings, T>? set, IValidateOptions<T>[] rules)
    : OptionSection(path, typeof(T)) where T : class, new()
{
    public override bool IsBound => set is not null;

    public override IEnumerable<object> Rules => rules;

    public override void Bind(IConfiguration configuration, Settings settings) =>
        set?.Invoke(settings, configuration.GetSection(Path).Get<T>() ?? new T());

    public override void Check(Settings settings, List<string> problems)
    {
        foreach (var rule in rules)
            if (rule.Validate(Path, value(settings)) is { Failed: true, Failures: { } failures }) problems.AddRange(failures);
    }

    public override void Register(IServiceCollection services, Settings settings) => services.AddSingleton(Options.Create(value(settings)));
}

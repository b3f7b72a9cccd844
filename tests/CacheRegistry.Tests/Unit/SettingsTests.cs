using CacheRegistry.Server.Hosting;
using CacheRegistry.Server.Storage;
using Microsoft.Extensions.Configuration;

namespace CacheRegistry.Tests.Unit;

public sealed class SettingsTests
{
    private static Settings Load(params string[] args) => SettingsLoader.Load(new ConfigurationBuilder().AddCommandLine(args).Build());

    private static IReadOnlyList<string> Problems(params string[] args) => Assert.Throws<ConfigurationException>(() => Load(args)).Problems;

    [Fact]
    public void Sizes_and_durations_are_bound_once_as_typed_values()
    {
        var settings = Load("--Registry:Upstreams:docker.io:Quota=5GB", "--Registry:Cache:MaxSize=1.5GiB", "--Registry:TagTtl=10m", "--Registry:MaxBlobSize=2048");
        Assert.Equal(5_000_000_000, settings.Registry.Upstreams["docker.io"].Quota!.Value.Bytes);
        Assert.Equal(3L << 29, settings.Registry.Cache.MaxSize!.Value.Bytes);
        Assert.Equal(1L << 30, settings.Registry.Cache.MinFreeSpace.Bytes);
        Assert.Equal(2048, settings.Registry.MaxBlobBytes);
        Assert.Equal(TimeSpan.FromMinutes(10), settings.Registry.TagTtl);
    }

    [Fact]
    public void Every_section_s_problems_come_in_one_round_with_the_keys()
    {
        var problems = Problems("--Registry:Cache:MaxSize=0", "--Registry:Metadata:Kind=Mongo", "--Registry:Storage:Kind=S3", "--Registry:Limits:RequestsPerMinute=-1",
            "--Registry:Tls:Certificate=/x.pem", "--Registry:Cluster:PeerTimeout=0s", "--Registry:Ui:Enabld=true", "--Registry:Availability:ChecksPerInterval=0");
        Assert.Equal(8, problems.Count);
        Assert.Contains("Registry:Cache:MaxSize = 0 B: expected a size above zero", problems);
        Assert.Contains("Registry:Metadata:Kind = 'Mongo': expected Sqlite or Redis", problems); // the kinds come from BackEnds
        Assert.Contains("Registry:Storage:S3:Bucket: required when Registry:Storage:Kind is S3", problems); // the back end's own rules
        Assert.Contains(problems, p => p.StartsWith("Registry:Limits:RequestsPerMinute = -1", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Registry:Tls:Certificate and Registry:Tls:Key", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Registry:Cluster:PeerTimeout", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Registry:Ui:Enabld: not a key", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Registry:Availability:ChecksPerInterval", StringComparison.Ordinal));
    }

    [Fact]
    public void A_signature_policy_s_keys_are_read_at_start_and_its_problems_named()
    {
        var dir = Infrastructure.Net.TempDir("keys");
        var privateKey = Path.Combine(dir, "cosign.key");
        File.WriteAllText(privateKey, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
        var problems = Problems("--Registry:Policies:0:Keys:0=/nonexistent/cosign.pub", "--Registry:Policies:0:Mode=audit",
            "--Registry:Policies:1:Repositories:0=docker.io/team/**", "--Registry:Policies:1:Keys:0=" + privateKey, "--Registry:Policies:1:Nmae=x");
        Assert.Contains("Registry:Policies:0:Repositories: expected one pattern or more (docker.io/team/*, ghcr.io/org/**)", problems);
        Assert.Contains("Registry:Policies:0:Mode = 'audit': expected enforce or warn", problems);
        Assert.Contains(problems, p => p.StartsWith("Registry:Policies:0:Keys:0 = '/nonexistent/cosign.pub': Could not find", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith($"Registry:Policies:1:Keys:0 = '{privateKey}': a PEM 'ENCRYPTED SIGSTORE PRIVATE KEY' block; expected a PUBLIC KEY", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Registry:Policies:1:Nmae: not a key", StringComparison.Ordinal));
        Assert.Equal(5, problems.Count);
    }

    [Fact]
    public void Every_rule_written_is_checked_and_every_section_has_keys()
    {
        var listed = OptionSections.All.SelectMany(s => s.Rules).Select(r => r.GetType())
            .Concat(BackEnds.Blobs.Select(b => b.Rules?.GetType())).Concat(BackEnds.Metadata.Select(b => b.Rules?.GetType()))
            .OfType<Type>().Select(t => t.IsGenericType ? t.GetGenericTypeDefinition() : t).ToHashSet();
        var written = new[] { typeof(RegistryOptions).Assembly, typeof(Settings).Assembly }.SelectMany(a => a.GetTypes())
            .Where(t => !t.IsAbstract && IsRules(t)).Select(t => t.IsGenericType ? t.GetGenericTypeDefinition() : t);
        Assert.All(written, t => Assert.Contains(t, listed));
        Assert.All(OptionSections.All, s => Assert.Contains(ConfigurationKeys.Known, k => k.Pattern.StartsWith(s.Path + ":", StringComparison.Ordinal)));
    }

    private static bool IsRules(Type t)
    {
        for (var b = t.BaseType; b is not null; b = b.BaseType)
            if (b.IsGenericType && b.GetGenericTypeDefinition() == typeof(OptionRules<>)) return true;
        return false;
    }
}

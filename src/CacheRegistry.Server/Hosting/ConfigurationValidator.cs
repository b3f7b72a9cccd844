using System.ComponentModel;
using System.Text.RegularExpressions;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// Every <c>Registry:</c> key checked before the server listens: keys it does not read, values of
/// the wrong kind, and values that cannot work together (a watermark order, a default upstream
/// that is not configured, an S3 part smaller than S3 allows). One line per problem.
/// </summary>
internal static class ConfigurationValidator
{
    private const int MinS3PartBytes = 5 * 1024 * 1024;

    /// <summary>The configuration sections the server reads (a top-level key near one of these is a typo).</summary>
    private static readonly string[] Sections = [RegistryOptions.Section, "Logging", "Serilog", "Kestrel"];

    /// <summary>Unknown keys, values that do not convert to their key's type, misspelt sections and bad logging values.</summary>
    public static List<string> KeyProblems(IConfiguration configuration) => KeyProblems(configuration, []);

    /// <param name="unbindable">Filled with the keys whose values do not convert (binding must leave them out).</param>
    public static List<string> KeyProblems(IConfiguration configuration, HashSet<string> unbindable)
    {
        var problems = new List<string>();
        foreach (var (key, value) in configuration.GetSection(RegistryOptions.Section).AsEnumerable(makePathsRelative: false))
        {
            if (value is null || (value.Length == 0 && ConfigurationKeys.IsCollection(key))) continue;
            if (ConfigurationKeys.TypeOf(key) is not { } type)
                problems.Add(ConfigurationKeys.IsCollection(key)
                    ? $"{key} = '{value}': expected a list ({key}:0=…, or a JSON array), not one value"
                    : $"{key}: not a key CacheRegistry reads; check its spelling (README, configuration reference)");
            else if (!Converts(value, type))
            {
                problems.Add($"{key} = '{value}': {Expected(type, value)}");
                unbindable.Add(key);
            }
        }
        foreach (var section in configuration.GetChildren().Select(c => c.Key).Distinct(StringComparer.OrdinalIgnoreCase))
            if (!Sections.Contains(section, StringComparer.OrdinalIgnoreCase) && Spelling.Closest(section, Sections) is { } meant)
                problems.Add($"{section}: not a section CacheRegistry reads; did you mean {meant}?");
        LoggingProblems(configuration, problems);
        return problems;
    }

    private static void LoggingProblems(IConfiguration configuration, List<string> problems)
    {
        if (configuration["Logging:Format"] is { } format && format is not ("text" or "json" or "Text" or "Json" or "TEXT" or "JSON"))
            problems.Add($"Logging:Format = '{format}': expected text or json");
        if (configuration[Telemetry.Logging.HitLogSampling.Key] is { } share && !Telemetry.Logging.HitLogSampling.TryParse(share, out _))
            problems.Add($"{Telemetry.Logging.HitLogSampling.Key} = '{share}': expected a share from 0 (no routine lines) to 1 (all)");
    }

    /// <summary>Values that are of the right kind but cannot work, alone or together.</summary>
    public static List<string> RuleProblems(RegistryOptions o, StorageOptions storage, MetadataOptions metadata)
    {
        var p = new List<string>();
        void Require(bool ok, string problem)
        {
            if (!ok) p.Add(problem);
        }
        void Size(string key, string? value, bool positive = true) => SizeProblems(key, value, positive, p);

        Require(o.TagTtl >= TimeSpan.Zero, $"Registry:TagTtl = {o.TagTtl}: expected zero or more");
        Require(o.RevalidateDeadline > TimeSpan.Zero, $"Registry:RevalidateDeadline = {o.RevalidateDeadline}: expected more than zero");
        Require(o.NegativeTtl >= TimeSpan.Zero, $"Registry:NegativeTtl = {o.NegativeTtl}: expected zero (off) or more");
        foreach (var (name, value) in new[] { ("Connect", o.Timeouts.Connect), ("FirstByte", o.Timeouts.FirstByte), ("Idle", o.Timeouts.Idle),
                     ("Fill", o.Timeouts.Fill), ("Store", o.Timeouts.Store), ("StoreProbe", o.Timeouts.StoreProbe) })
            Require(value > TimeSpan.Zero, $"Registry:Timeouts:{name} = {value}: expected more than zero");
        Require(o.Timeouts.Shutdown >= TimeSpan.Zero, $"Registry:Timeouts:Shutdown = {o.Timeouts.Shutdown}: expected zero or more");
        Require(o.Fill.ResumeAttempts >= 0, $"Registry:Fill:ResumeAttempts = {o.Fill.ResumeAttempts}: expected zero or more");
        Require(o.Fill.LeaseTtl > TimeSpan.Zero && o.Fill.LeasePoll > TimeSpan.Zero, "Registry:Fill:LeaseTtl and LeasePoll: expected more than zero");
        Size("Registry:Cache:MaxSize", o.Cache.MaxSize);
        Size("Registry:Cache:MinFreeSpace", o.Cache.MinFreeSpace, positive: false);
        Size("Registry:MaxBlobSize", o.MaxBlobSize);
        Require(o.Cache.LowWatermark is > 0 and < 1 && o.Cache.HighWatermark is > 0 and <= 1 && o.Cache.LowWatermark < o.Cache.HighWatermark,
            $"Registry:Cache:LowWatermark = {o.Cache.LowWatermark}, HighWatermark = {o.Cache.HighWatermark}: expected 0 < LowWatermark < HighWatermark <= 1");
        Require(o.Cache.MaintenanceInterval > TimeSpan.Zero, $"Registry:Cache:MaintenanceInterval = {o.Cache.MaintenanceInterval}: expected more than zero");
        Require(o.Cache.GcInterval >= TimeSpan.Zero && o.Cache.GcGrace >= TimeSpan.Zero, "Registry:Cache:GcInterval and GcGrace: expected zero or more");
        Require(o.MaxManifestBytes is > 0 and <= 64 * 1024 * 1024, $"Registry:MaxManifestBytes = {o.MaxManifestBytes}: expected 1 to 67108864");
        Require(o.MemoryCacheBytes > 0, $"Registry:MemoryCacheBytes = {o.MemoryCacheBytes}: expected more than zero");
        Proxy("Registry:EgressProxy", o.EgressProxy, p);
        Telemetry.TelemetrySetup.Problems(o.Telemetry, p);
        Auth.AccessPolicy.Problems(o.Auth, p);
        Http.RequestLimits.Problems(o.Limits, p);
        TlsCertificate.Problems(o.Tls, p);
        Require(o.Availability.Window > TimeSpan.Zero && o.Availability.Interval > TimeSpan.Zero && o.Availability.ChecksPerInterval > 0,
            "Registry:Availability:Window, Interval and ChecksPerInterval: expected more than zero");
        Upstreams(o, p);
        Sync(o, p);
        Stores(storage, metadata, p);
        Cluster(o.Cluster, p);
        return p;
    }

    private static void Cluster(ClusterOptions c, List<string> p)
    {
        if (string.IsNullOrEmpty(c.AdvertiseUrl) != string.IsNullOrEmpty(c.Secret))
            p.Add("Registry:Cluster:AdvertiseUrl and Secret: set both (replicas stream each other's fills) or neither");
        if (!string.IsNullOrEmpty(c.AdvertiseUrl) && (!Uri.TryCreate(c.AdvertiseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            p.Add($"Registry:Cluster:AdvertiseUrl = '{c.AdvertiseUrl}': expected the http(s) URL other replicas reach this one at, such as http://10.1.2.3:5000 or, for an IPv6 address, http://[fd00::3]:5000");
        if (c.Secret is { Length: > 0 and < 16 })
            p.Add("Registry:Cluster:Secret: expected at least 16 characters (openssl rand -hex 32)");
        if (c.PeerTimeout <= TimeSpan.Zero) p.Add($"Registry:Cluster:PeerTimeout = {c.PeerTimeout}: expected more than zero");
    }

    /// <summary>A size setting (<c>500MB</c>, <c>50GiB</c>, bytes) that does not parse, or is zero where it must be more.</summary>
    private static void SizeProblems(string key, string? value, bool positive, List<string> p)
    {
        if (string.IsNullOrWhiteSpace(value)) return;
        try
        {
            if (ByteSize.Parse(value) is long n && positive && n <= 0) p.Add($"{key} = '{value}': expected a size above zero");
        }
        catch (FormatException)
        {
            p.Add($"{key} = '{value}': expected a size such as 500MB, 50GiB or 1073741824");
        }
    }

    private static void Upstreams(RegistryOptions o, List<string> p)
    {
        var builtIn = BuiltInUpstreams.For(o);
        var hosts = new HashSet<string>(builtIn.Keys, StringComparer.OrdinalIgnoreCase);
        hosts.UnionWith(o.Upstreams.Keys);
        foreach (var (host, u) in o.Upstreams)
        {
            var key = $"Registry:Upstreams:{host}";
            for (var i = 0; i < u.Endpoints.Count; i++)
                if (!Uri.TryCreate(u.Endpoints[i], UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    p.Add($"{key}:Endpoints:{i} = '{u.Endpoints[i]}': expected an http(s) URL");
            if (u.AliasOf is { } alias)
            {
                if (!hosts.Contains(alias)) p.Add($"{key}:AliasOf = '{alias}': no such registry is configured");
                else if ((o.Upstreams.GetValueOrDefault(alias) ?? builtIn.GetValueOrDefault(alias))?.AliasOf is not null)
                    p.Add($"{key}:AliasOf = '{alias}': that is an alias itself; name the registry it stands for");
            }
            else if (u.Endpoints.Count == 0 && !builtIn.ContainsKey(host))
                p.Add(o.BuiltInUpstreams || !BuiltInUpstreams.Table.ContainsKey(host)
                    ? $"{key}: has no Endpoints (and is not a built-in registry)"
                    : $"{key}: has no Endpoints (Registry:BuiltInUpstreams is false, so its built-in ones are not used)");
            if (u.FailuresBeforeCoolDown < 1) p.Add($"{key}:FailuresBeforeCoolDown = {u.FailuresBeforeCoolDown}: expected 1 or more");
            if (u.CoolDown < TimeSpan.Zero) p.Add($"{key}:CoolDown = {u.CoolDown}: expected zero or more");
            if (u.Proxy is not ("direct" or "none")) Proxy($"{key}:Proxy", u.Proxy, p);
            SizeProblems($"{key}:Quota", u.Quota, positive: true, p);
            if (u.QuotaPeriod is not ("day" or "month")) p.Add($"{key}:QuotaPeriod = '{u.QuotaPeriod}': expected day or month");
            if (u.ClientCredentials is not ("Cache" or "Passthrough"))
                p.Add($"{key}:ClientCredentials = '{u.ClientCredentials}': expected Cache or Passthrough");
            else if (u.ClientCredentials == "Passthrough")
            {
                if (u.Username is not null || u.Token is not null)
                    p.Add($"{key}: Username, Password and Token are the cache's credentials; with ClientCredentials=Passthrough each client's are used instead");
                if (!string.IsNullOrEmpty(o.Auth.Htpasswd))
                    p.Add($"{key}:ClientCredentials=Passthrough and Registry:Auth:Htpasswd: a client sends one set of credentials, so the cache cannot both check its own users and pass theirs on");
            }
            if (u.PassthroughCheckTtl < TimeSpan.Zero) p.Add($"{key}:PassthroughCheckTtl = {u.PassthroughCheckTtl}: expected zero or more");
            if (u.MaxConcurrentFills < 0) p.Add($"{key}:MaxConcurrentFills = {u.MaxConcurrentFills}: expected 0 (no limit) or more");
        }
        if (!hosts.Contains(o.DefaultUpstream)) p.Add($"Registry:DefaultUpstream = '{o.DefaultUpstream}': no such registry is configured");
        foreach (var (requestHost, registry) in o.Hosts)
            if (!hosts.Contains(registry)) p.Add($"Registry:Hosts:{requestHost} = '{registry}': no such registry is configured");
    }

    private static void Proxy(string key, string? url, List<string> p)
    {
        if (string.IsNullOrEmpty(url)) return;
        try
        {
            _ = new EgressProxy(url, []);
        }
        catch (Exception e) when (e is ArgumentException or UriFormatException)
        {
            p.Add($"{key} = '{url}': expected http://host:port or socks5://host:port");
        }
    }

    private static void Sync(RegistryOptions o, List<string> p)
    {
        for (var i = 0; i < o.Sync.Count; i++)
        {
            var s = o.Sync[i];
            var key = $"Registry:Sync:{i}";
            if ((s.Image is null) == (s.Repository is null)) p.Add($"{key}: expected exactly one of Image or Repository");
            foreach (var (name, value) in new[] { ("Image", s.Image), ("Repository", s.Repository) })
            {
                if (value is null) continue;
                try
                {
                    ImageReference.Parse(value);
                }
                catch (FormatException e)
                {
                    p.Add($"{key}:{name} = '{value}': {e.Message}");
                }
            }
            try
            {
                _ = new Regex(s.Tags, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                p.Add($"{key}:Tags = '{s.Tags}': not a regular expression ({e.Message})");
            }
            if (s.MaxTags < 1) p.Add($"{key}:MaxTags = {s.MaxTags}: expected 1 or more");
            if (s.Interval <= TimeSpan.Zero) p.Add($"{key}:Interval = {s.Interval}: expected more than zero");
        }
    }

    private static void Stores(StorageOptions storage, MetadataOptions metadata, List<string> p)
    {
        if (!storage.Kind.Equals("FileSystem", StringComparison.OrdinalIgnoreCase) && !storage.Kind.Equals("S3", StringComparison.OrdinalIgnoreCase))
            p.Add($"Registry:Storage:Kind = '{storage.Kind}': expected FileSystem or S3");
        if (storage.Kind.Equals("S3", StringComparison.OrdinalIgnoreCase))
        {
            var s3 = storage.S3;
            if (string.IsNullOrWhiteSpace(s3.Bucket)) p.Add("Registry:Storage:S3:Bucket: required when Registry:Storage:Kind is S3");
            if (s3.ServiceUrl is { Length: > 0 } url && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
                p.Add($"Registry:Storage:S3:ServiceUrl = '{url}': expected an http(s) URL");
            if (s3.PartSizeBytes < MinS3PartBytes)
                p.Add($"Registry:Storage:S3:PartSizeBytes = {s3.PartSizeBytes}: expected at least {MinS3PartBytes} (S3 refuses smaller parts, so every upload would fail)");
            if (s3.RequestTimeout <= TimeSpan.Zero) p.Add($"Registry:Storage:S3:RequestTimeout = {s3.RequestTimeout}: expected more than zero");
            if (s3.RedirectExpiry <= TimeSpan.Zero || s3.RedirectExpiry > TimeSpan.FromDays(7))
                p.Add($"Registry:Storage:S3:RedirectExpiry = {s3.RedirectExpiry}: expected more than zero and at most 7 days (S3's limit)");
        }
        if (!metadata.Kind.Equals("Sqlite", StringComparison.OrdinalIgnoreCase) && !metadata.Kind.Equals("Redis", StringComparison.OrdinalIgnoreCase))
            p.Add($"Registry:Metadata:Kind = '{metadata.Kind}': expected Sqlite or Redis");
        if (metadata.Kind.Equals("Redis", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                StackExchange.Redis.ConfigurationOptions.Parse(metadata.Configuration);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                p.Add($"Registry:Metadata:Configuration = '{metadata.Configuration}': not a Redis connection string ({e.Message})");
            }
        }
    }

    private static bool Converts(string value, Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string)) return true;
        try
        {
            TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException or NotSupportedException)
        {
            return false;
        }
    }

    private static string Expected(Type type, string value) =>
        (Nullable.GetUnderlyingType(type) ?? type) == typeof(TimeSpan) ? Duration.Problem(value.Trim()) : "expected " + Describe(type);

    private static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(TimeSpan)) return Duration.Expected;
        if (t == typeof(bool)) return "true or false";
        if (t == typeof(int) || t == typeof(long)) return "a whole number";
        if (t == typeof(double)) return "a number such as 0.8";
        return t.Name;
    }
}

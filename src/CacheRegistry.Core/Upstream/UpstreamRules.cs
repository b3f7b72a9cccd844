namespace CacheRegistry.Upstream;

/// <summary>
/// <c>Registry:Upstreams</c>, the names that route to them (<c>DefaultUpstream</c>, <c>Hosts</c>),
/// egress proxies and <c>Registry:Timeouts</c>.
/// </summary>
public sealed class UpstreamRules : OptionRules<RegistryOptions>
{
    protected override void Check(RegistryOptions o, OptionProblems p)
    {
        p.Positive("Registry:Timeouts", ("Connect", o.Timeouts.Connect), ("FirstByte", o.Timeouts.FirstByte), ("Idle", o.Timeouts.Idle),
            ("Fill", o.Timeouts.Fill), ("Store", o.Timeouts.Store), ("StoreProbe", o.Timeouts.StoreProbe));
        p.NotNegative("Registry:Timeouts", ("Shutdown", o.Timeouts.Shutdown));
        Proxy("Registry:EgressProxy", o.EgressProxy, p);
        var builtIn = BuiltInUpstreams.For(o);
        var hosts = new HashSet<string>(builtIn.Keys, StringComparer.OrdinalIgnoreCase);
        hosts.UnionWith(o.Upstreams.Keys);
        foreach (var (host, u) in o.Upstreams)
        {
            var key = $"Registry:Upstreams:{host}";
            for (var i = 0; i < u.Endpoints.Count; i++)
                p.Require(Uri.TryCreate(u.Endpoints[i], UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https",
                    $"{key}:Endpoints:{i} = '{u.Endpoints[i]}': expected an http(s) URL");
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
            p.Require(u.FailuresBeforeCoolDown >= 1, $"{key}:FailuresBeforeCoolDown = {u.FailuresBeforeCoolDown}: expected 1 or more");
            p.NotNegative(key, ("CoolDown", u.CoolDown), ("PassthroughCheckTtl", u.PassthroughCheckTtl));
            if (u.Proxy is not ("direct" or "none")) Proxy($"{key}:Proxy", u.Proxy, p);
            p.PositiveSize($"{key}:Quota", u.Quota);
            p.Require(u.QuotaPeriod is "day" or "month", $"{key}:QuotaPeriod = '{u.QuotaPeriod}': expected day or month");
            Credentials(o, key, u, p);
            p.Require(u.Strategy.ToLowerInvariant() is "failover" or "pool", $"{key}:Strategy = '{u.Strategy}': expected failover or pool");
            p.Require(u.Order.ToLowerInvariant() is "configured" or "measured", $"{key}:Order = '{u.Order}': expected configured or measured");
            p.Require(u.Pool.SegmentSize.Bytes >= 64 * 1024, $"{key}:Pool:SegmentSize = {u.Pool.SegmentSize}: expected 64KiB or more");
            p.Require(u.Pool.ConnectionsPerEndpoint is >= 1 and <= 16, $"{key}:Pool:ConnectionsPerEndpoint = {u.Pool.ConnectionsPerEndpoint}: expected 1 to 16");
            p.Positive($"{key}:Pool", ("HedgeAfter", u.Pool.HedgeAfter), ("ManifestHedgeAfter", u.Pool.ManifestHedgeAfter), ("QuarantineFor", u.Pool.QuarantineFor));
            p.Require(u.Push || !u.AllowDelete, $"{key}:AllowDelete needs {key}:Push=true (deletes are forwarded with pushes)");
            p.Require(!u.Push || !u.Offline, $"{key}:Push and {key}:Offline: an offline registry is never asked anything, so it cannot take pushes");
            p.Require(u.MaxConcurrentFills >= 0, $"{key}:MaxConcurrentFills = {u.MaxConcurrentFills}: expected 0 (no limit) or more");
        }
        p.Require(hosts.Contains(o.DefaultUpstream), $"Registry:DefaultUpstream = '{o.DefaultUpstream}': no such registry is configured");
        foreach (var (requestHost, registry) in o.Hosts)
            p.Require(hosts.Contains(registry), $"Registry:Hosts:{requestHost} = '{registry}': no such registry is configured");
    }

    private static void Credentials(RegistryOptions o, string key, UpstreamOptions u, OptionProblems p)
    {
        if (u.ClientCredentials is not ("Cache" or "Passthrough"))
        {
            p.Add($"{key}:ClientCredentials = '{u.ClientCredentials}': expected Cache or Passthrough");
            return;
        }
        if (u.ClientCredentials != "Passthrough") return;
        p.Require(u.Username is null && u.Token is null,
            $"{key}: Username, Password and Token are the cache's credentials; with ClientCredentials=Passthrough each client's are used instead");
        p.Require(string.IsNullOrEmpty(o.Auth.Htpasswd),
            $"{key}:ClientCredentials=Passthrough and Registry:Auth:Htpasswd: a client sends one set of credentials, so the cache cannot both check its own users and pass theirs on");
    }

    private static void Proxy(string key, string? url, OptionProblems p)
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
}

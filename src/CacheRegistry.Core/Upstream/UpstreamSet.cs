using System.Net;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Upstream;

/// <summary>The configured upstreams by registry host, aliases resolved, built once at start.</summary>
public sealed class UpstreamSet
{
    private readonly Dictionary<string, UpstreamClient> _byHost = new(StringComparer.OrdinalIgnoreCase);

    public UpstreamSet(RegistryOptions options, TimeProvider time, ILoggerFactory logs)
    {
        var table = new Dictionary<string, UpstreamOptions>(BuiltInUpstreams.Table, StringComparer.OrdinalIgnoreCase);
        foreach (var (host, configured) in options.Upstreams)
        {
            // A configured entry without endpoints keeps the built-in ones but may add credentials.
            if (configured.Endpoints.Count == 0 && configured.AliasOf is null && table.TryGetValue(host, out var builtIn))
                configured.Endpoints = builtIn.Endpoints;
            table[host] = configured;
        }

        var log = logs.CreateLogger<UpstreamClient>();
        foreach (var (host, o) in table.Where(t => t.Value.AliasOf is null))
        {
            // One handler per upstream: its proxy also carries its token service and blob redirects.
            var proxy = EgressProxy.Resolve(o.Proxy, options.EgressProxy, options.NoProxy);
            _byHost[host] = new UpstreamClient(host.ToLowerInvariant(), o, CreateHttpClient(options.Timeouts, proxy), options.Timeouts, time, log, proxy);
        }
        foreach (var (host, o) in table.Where(t => t.Value.AliasOf is not null))
            if (_byHost.TryGetValue(o.AliasOf!, out var target)) _byHost[host] = target;
    }

    public UpstreamClient? Find(string registryHost) => _byHost.GetValueOrDefault(registryHost);

    /// <summary>Distinct upstreams (aliases folded), for the start-up summary.</summary>
    public IEnumerable<UpstreamClient> All => _byHost.Values.Distinct();

    public IEnumerable<string> AliasesOf(UpstreamClient upstream) =>
        _byHost.Where(kv => kv.Value == upstream && !kv.Key.Equals(upstream.Name, StringComparison.OrdinalIgnoreCase)).Select(kv => kv.Key);

    private static HttpClient CreateHttpClient(TimeoutOptions timeouts, EgressProxy? proxy)
    {
        // Redirects are followed by hand (credentials must not follow them to other hosts), and
        // bodies are passed through byte for byte, so no automatic decompression.
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = proxy is not null,
            Proxy = proxy,
            ConnectTimeout = timeouts.Connect,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            UseCookies = false,
        };
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }
}

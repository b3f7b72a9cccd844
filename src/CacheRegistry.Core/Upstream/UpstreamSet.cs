using System.Net;
using System.Net.Sockets;
using CacheRegistry.Telemetry;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Upstream;

/// <summary>The configured upstreams by registry host, aliases resolved, built once at start.</summary>
public sealed class UpstreamSet : IDisposable
{
    private readonly List<HttpMessageInvoker> _clients = [];
    private readonly Dictionary<string, UpstreamClient> _byHost = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="shared">What replicas share (tokens, quota); nothing with one replica.</param>
    public UpstreamSet(RegistryOptions options, TimeProvider time, ILoggerFactory logs, CacheMetrics? metrics = null, Cluster.ISharedState? shared = null)
    {
        var table = new Dictionary<string, UpstreamOptions>(BuiltInUpstreams.For(options), StringComparer.OrdinalIgnoreCase);
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
            var http = CreateHttpClient(options.Timeouts, proxy);
            _clients.Add(http);
            var name = host.ToLowerInvariant();
            // Pushes are forwarded by YARP, which takes a bare invoker over the same kind of handler.
            HttpMessageInvoker? push = null;
            if (o.Push) _clients.Add(push = CreateInvoker(options.Timeouts, proxy));
            _byHost[host] = new UpstreamClient(name, o, http, options.Timeouts, time, log, proxy, shared: shared,
                newHttp: () => CreateHttpClient(options.Timeouts, proxy)) {
                IsOffline = options.Offline || o.Offline,
                Metrics = metrics ?? CacheMetrics.Unobserved,
                Quota = o.Quota is { Bytes: var quota } ? new UpstreamQuota(quota, o.QuotaPeriod, time, name, shared) : null,
                FillSlots = o.MaxConcurrentFills > 0 ? new SemaphoreSlim(o.MaxConcurrentFills) : null,
                MaxConcurrentFills = o.MaxConcurrentFills,
                FillQueueWait = o.FillQueueWait,
                PushTransport = push,
            };
        }
        foreach (var (host, o) in table.Where(t => t.Value.AliasOf is not null))
            if (_byHost.TryGetValue(o.AliasOf!, out var target)) _byHost[host] = target;
    }

    public UpstreamClient? Find(string registryHost) => _byHost.GetValueOrDefault(registryHost);

    /// <summary>Distinct upstreams (aliases folded), for the start-up summary.</summary>
    public IEnumerable<UpstreamClient> All => _byHost.Values.Distinct();

    public IEnumerable<string> AliasesOf(UpstreamClient upstream) =>
        _byHost.Where(kv => kv.Value == upstream && !kv.Key.Equals(upstream.Name, StringComparison.OrdinalIgnoreCase)).Select(kv => kv.Key);

    public void Dispose()
    {
        foreach (var http in _clients) http.Dispose();
        foreach (var upstream in All)
        {
            upstream.FillSlots?.Dispose();
            upstream.Quota?.Dispose();
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The handler belongs to the HttpClient, which disposes it.")]
    private static HttpClient CreateHttpClient(TimeoutOptions timeouts, EgressProxy? proxy) =>
        new(CreateHandler(timeouts, proxy)) { Timeout = Timeout.InfiniteTimeSpan };

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The handler belongs to the invoker, which disposes it.")]
    private static HttpMessageInvoker CreateInvoker(TimeoutOptions timeouts, EgressProxy? proxy) => new(CreateHandler(timeouts, proxy));

    private static SocketsHttpHandler CreateHandler(TimeoutOptions timeouts, EgressProxy? proxy) =>
        // Redirects are followed by hand (credentials must not follow them to other hosts), and
        // bodies are passed through byte for byte, so no automatic decompression.
        new()
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = proxy is not null,
            Proxy = proxy,
            ConnectTimeout = timeouts.Connect,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            UseCookies = false,
            ConnectCallback = ConnectAsync,
        };

    /// <summary>
    /// Connects as the handler would, but a request to a host the upstream sent the cache to (a
    /// redirect target, a token realm) connects only to addresses the target policy allows, as
    /// resolved now: a name that resolved to a public address when checked and to a private one
    /// at connect (DNS rebinding) is refused here. Connections to an egress proxy are the proxy's
    /// business.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The socket belongs to the returned stream, or is disposed when the connect fails.")]
    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = await TargetPolicy.ResolveAsync(host, ct);
        var request = context.InitialRequestMessage;
        request.Options.Set(UpstreamClient.NewConnectionKey, true);
        if (request.Options.TryGetValue(UpstreamClient.EndpointReachKey, out var reach)
            && string.Equals(request.RequestUri?.IdnHost, host, StringComparison.OrdinalIgnoreCase)
            && TargetPolicy.Refusal(addresses, reach) is { } why)
            throw new HttpRequestException($"connection to {host} refused: {why}");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses.ToArray(), context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

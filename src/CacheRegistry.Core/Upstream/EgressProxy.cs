using System.Net;

namespace CacheRegistry.Upstream;

/// <summary>
/// The egress proxy of one upstream: <c>http://</c> (CONNECT for https targets) or <c>socks5://</c>,
/// with optional credentials in the URL, and a NoProxy list of hosts, <c>.domain</c> suffixes,
/// <c>*.domain</c> patterns or <c>*</c>. Applies to every host the upstream sends us to (token
/// services, blob redirects), because they all go through the upstream's handler.
/// </summary>
public sealed class EgressProxy : IWebProxy
{
    private readonly Uri _proxy;
    private readonly string[] _noProxy;

    public EgressProxy(string url, IEnumerable<string> noProxy)
    {
        var uri = new Uri(url);
        if (uri.Scheme is not ("http" or "socks5" or "socks5h" or "socks4" or "socks4a"))
            throw new ArgumentException($"egress proxy '{url}' must be http://, socks5:// or socks4://", nameof(url));
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            Credentials = new NetworkCredential(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
            uri = new UriBuilder(uri) { UserName = "", Password = "" }.Uri;
        }
        _proxy = uri;
        _noProxy = noProxy.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(n => n.ToLowerInvariant()).ToArray();
    }

    public ICredentials? Credentials { get; set; }

    /// <summary>Where the proxy is, for logs and error messages (without credentials).</summary>
    public string Address => _proxy.GetLeftPart(UriPartial.Authority);

    public Uri? GetProxy(Uri destination) => IsBypassed(destination) ? null : _proxy;

    public bool IsBypassed(Uri host)
    {
        var h = host.Host.ToLowerInvariant();
        foreach (var rule in _noProxy)
        {
            if (rule == "*" || rule == h) return true;
            var suffix = rule.StartsWith("*.", StringComparison.Ordinal) ? rule[1..] : rule.StartsWith('.') ? rule : null;
            if (suffix is not null && (h.EndsWith(suffix, StringComparison.Ordinal) || h == suffix[1..])) return true;
            if (rule.Contains(':') && rule == $"{h}:{host.Port}") return true;
        }
        return false;
    }

    /// <summary>
    /// The proxy for an upstream: its own setting ("direct" turns proxying off), else the global
    /// one, else HTTPS_PROXY / HTTP_PROXY / ALL_PROXY from the environment, with NO_PROXY.
    /// </summary>
    public static EgressProxy? Resolve(string? upstreamProxy, string? globalProxy, IReadOnlyList<string> noProxy)
    {
        if (upstreamProxy is "direct" or "none") return null;
        var url = upstreamProxy ?? globalProxy;
        var bypass = noProxy;
        if (string.IsNullOrEmpty(url))
        {
            url = Env("HTTPS_PROXY") ?? Env("HTTP_PROXY") ?? Env("ALL_PROXY");
            if (bypass.Count == 0 && Env("NO_PROXY") is { } env) bypass = [env];
        }
        return string.IsNullOrEmpty(url) ? null : new EgressProxy(url, bypass);
    }

    private static string? Env(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v
        : Environment.GetEnvironmentVariable(name.ToLowerInvariant()) is { Length: > 0 } lower ? lower : null;
}

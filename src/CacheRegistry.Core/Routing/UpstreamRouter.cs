using CacheRegistry.Oci;
using CacheRegistry.Upstream;

namespace CacheRegistry.Routing;

/// <summary>A repository as cached: which upstream, and the name there (with <c>library/</c> on docker.io).</summary>
public sealed record RepositoryRef(UpstreamClient Upstream, string Name)
{
    /// <summary>Cache key: upstream and name, so docker.io/library/nginx and quay.io/library/nginx never mix.</summary>
    public string Key { get; } = Upstream.Name + "/" + Name;
    public override string ToString() => Key;
}

/// <summary>
/// Picks the upstream for a request, in order: containerd's <c>?ns=</c>, a path prefix naming a
/// configured registry, the request's host name as mapped by configuration, the default upstream.
/// Anything naming an unconfigured registry is refused: the cache is not an open proxy.
/// </summary>
public sealed class UpstreamRouter(UpstreamSet upstreams, RegistryOptions options)
{
    private const int MaxRemembered = 10_000;
    // Warm requests name the same repositories again and again: reuse their refs (and cache keys).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(UpstreamClient, string), RepositoryRef> _refs = new();

    /// <summary>
    /// The repository of an image as users write it (<c>k8s.gcr.io/pause</c>), for operations such
    /// as purge and import: the same cache key a pull of it uses, aliases resolved.
    /// </summary>
    public RepositoryRef Resolve(ImageReference image) =>
        Resolve(image.Repository, upstreams.Find(image.Registry)?.Name
            ?? throw RegistryError.NameUnknown($"registry '{RegistryPath.Truncate(image.Registry)}' is not configured on this cache"), null);

    public RepositoryRef Resolve(string name, string? ns, string? host)
    {
        var upstreamName = options.DefaultUpstream;
        if (!string.IsNullOrEmpty(ns))
        {
            upstreamName = upstreams.Find(ns)?.Name
                ?? throw RegistryError.NameUnknown($"registry '{RegistryPath.Truncate(ns)}' (from ?ns=) is not configured on this cache");
        }
        else if (FirstComponentIsHost(name, out var prefix, out var rest))
        {
            upstreamName = upstreams.Find(prefix)?.Name
                ?? throw RegistryError.NameUnknown($"registry '{prefix}' is not configured on this cache");
            name = rest;
        }
        else if (MappedRegistry(host) is { } mapped)
        {
            upstreamName = mapped;
        }

        var upstream = upstreams.Find(upstreamName)
            ?? throw RegistryError.NameUnknown($"registry '{upstreamName}' is not configured on this cache");
        if (name.Length == 0) throw RegistryError.NameInvalid("repository name is empty after the registry prefix");
        if (DockerHub.Is(upstream.Name)) name = DockerHub.RepositoryName(name);
        if (_refs.TryGetValue((upstream, name), out var known)) return known;
        if (!RepositoryPattern.AnyMatches(upstream.RepositoryPatterns, name))
            throw new RegistryError(403, "DENIED", $"repository '{name}' of {upstream.Name} is not in this cache's allow-list");
        if (_refs.Count >= MaxRemembered) _refs.Clear();
        return _refs.GetOrAdd((upstream, name), key => new RepositoryRef(key.Item1, key.Item2));
    }

    /// <summary>The registry a request host name is mapped to (Registry:Hosts), else the default one; null when that is not configured.</summary>
    public UpstreamClient? ForHost(string? host) => upstreams.Find(MappedRegistry(host) ?? options.DefaultUpstream);

    private string? MappedRegistry(string? host) => host is not null && options.Hosts.TryGetValue(StripPort(host), out var mapped) ? mapped : null;

    // A first component is a registry host when it has a dot or a colon, or is localhost (Docker's rule).
    private static bool FirstComponentIsHost(string name, out string prefix, out string rest)
    {
        var slash = name.IndexOf('/');
        prefix = slash < 0 ? "" : name[..slash];
        rest = slash < 0 ? name : name[(slash + 1)..];
        return slash > 0 && (prefix.Contains('.') || prefix.Contains(':') || prefix == "localhost");
    }

    private static string StripPort(string host)
    {
        var colon = host.LastIndexOf(':');
        return colon > 0 && !host.EndsWith(']') ? host[..colon] : host;
    }
}

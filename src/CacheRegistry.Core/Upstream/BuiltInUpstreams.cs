using CacheRegistry.Oci;

namespace CacheRegistry.Upstream;

/// <summary>The registries every installation knows; configuration may override or add to them.</summary>
public static class BuiltInUpstreams
{
    public static IReadOnlyDictionary<string, UpstreamOptions> Table { get; } =
        new Dictionary<string, UpstreamOptions>(StringComparer.OrdinalIgnoreCase)
        {
            [DockerHub.Registry] = new() { Endpoints = [DockerHub.ApiUrl] },
            [DockerHub.Aliases[0]] = new() { AliasOf = DockerHub.Registry },
            [DockerHub.Aliases[1]] = new() { AliasOf = DockerHub.Registry },
            ["registry.k8s.io"] = new() { Endpoints = ["https://registry.k8s.io"] },
            // Frozen since 2023 and redirected to registry.k8s.io; its images live on there.
            ["k8s.gcr.io"] = new() { AliasOf = "registry.k8s.io" },
            ["gcr.io"] = new() { Endpoints = ["https://gcr.io"] },
            ["quay.io"] = new() { Endpoints = ["https://quay.io"] },
            ["ghcr.io"] = new() { Endpoints = ["https://ghcr.io"] },
            ["mcr.microsoft.com"] = new() { Endpoints = ["https://mcr.microsoft.com"] },
            ["nvcr.io"] = new() { Endpoints = ["https://nvcr.io"] },
        };

    /// <summary>
    /// The built-in entries an installation starts from: all of them, or with
    /// <see cref="RegistryOptions.BuiltInUpstreams"/> off only the aliases of registries it configures
    /// (index.docker.io still means a configured docker.io).
    /// </summary>
    public static IReadOnlyDictionary<string, UpstreamOptions> For(RegistryOptions options) =>
        options.BuiltInUpstreams
            ? Table
            : Table.Where(t => t.Value.AliasOf is { } target && options.Upstreams.ContainsKey(target) && !options.Upstreams.ContainsKey(t.Key))
                .ToDictionary(t => t.Key, t => t.Value, StringComparer.OrdinalIgnoreCase);
}

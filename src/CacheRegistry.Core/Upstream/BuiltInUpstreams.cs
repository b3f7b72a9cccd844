namespace CacheRegistry.Upstream;

/// <summary>The registries every installation knows; configuration may override or add to them.</summary>
public static class BuiltInUpstreams
{
    public static IReadOnlyDictionary<string, UpstreamOptions> Table { get; } =
        new Dictionary<string, UpstreamOptions>(StringComparer.OrdinalIgnoreCase)
        {
            ["docker.io"] = new() { Endpoints = ["https://registry-1.docker.io"] },
            ["index.docker.io"] = new() { AliasOf = "docker.io" },
            ["registry-1.docker.io"] = new() { AliasOf = "docker.io" },
            ["registry.k8s.io"] = new() { Endpoints = ["https://registry.k8s.io"] },
            // Frozen since 2023 and redirected to registry.k8s.io; its images live on there.
            ["k8s.gcr.io"] = new() { AliasOf = "registry.k8s.io" },
            ["gcr.io"] = new() { Endpoints = ["https://gcr.io"] },
            ["quay.io"] = new() { Endpoints = ["https://quay.io"] },
            ["ghcr.io"] = new() { Endpoints = ["https://ghcr.io"] },
            ["mcr.microsoft.com"] = new() { Endpoints = ["https://mcr.microsoft.com"] },
            ["nvcr.io"] = new() { Endpoints = ["https://nvcr.io"] },
        };
}

namespace CacheRegistry.Oci;

/// <summary>Docker Hub's naming rules, in one place: its names, its API host, and library/ for official images.</summary>
public static class DockerHub
{
    public const string Registry = "docker.io";
    /// <summary>Where its API answers (docker.io itself does not).</summary>
    public const string ApiUrl = "https://registry-1.docker.io";
    /// <summary>Other names clients use for it.</summary>
    public static readonly IReadOnlyList<string> Aliases = ["index.docker.io", "registry-1.docker.io"];

    public static bool Is(string registry) => registry == Registry || Aliases.Contains(registry);

    /// <summary>One-component names are official images: <c>nginx</c> is <c>library/nginx</c>.</summary>
    public static string RepositoryName(string name) => name.Contains('/') ? name : "library/" + name;
}

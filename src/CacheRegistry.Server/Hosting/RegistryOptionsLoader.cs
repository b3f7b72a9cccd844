namespace CacheRegistry.Server.Hosting;

/// <summary>Binds and checks the <c>Registry</c> section; a bad value stops the start with a message saying which key.</summary>
public static class RegistryOptionsLoader
{
    public static RegistryOptions Load(IConfiguration configuration)
    {
        var options = configuration.GetSection(RegistryOptions.Section).Get<RegistryOptions>() ?? new RegistryOptions();
        options.DataDir = Path.GetFullPath(options.DataDir);
        var problems = new List<string>();
        foreach (var (host, upstream) in options.Upstreams)
            for (var i = 0; i < upstream.Endpoints.Count; i++)
                if (!Uri.TryCreate(upstream.Endpoints[i], UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    problems.Add($"Registry:Upstreams:{host}:Endpoints:{i} = '{upstream.Endpoints[i]}' is not an http(s) URL");
        if (options.TagTtl < TimeSpan.Zero) problems.Add("Registry:TagTtl must not be negative (format hh:mm:ss)");
        if (options.RevalidateDeadline <= TimeSpan.Zero) problems.Add("Registry:RevalidateDeadline must be positive (format hh:mm:ss)");
        if (problems.Count > 0)
            throw new InvalidOperationException("invalid configuration:\n  " + string.Join("\n  ", problems));
        return options;
    }
}

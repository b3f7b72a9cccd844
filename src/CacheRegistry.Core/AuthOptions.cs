namespace CacheRegistry;

/// <summary><c>Registry:Auth</c>: who may pull through the cache. Off (everyone pulls) unless Htpasswd is set.</summary>
public sealed class AuthOptions
{
    /// <summary>An htpasswd file of bcrypt entries (<c>htpasswd -B</c>), reloaded when it changes.</summary>
    public string? Htpasswd { get; set; }

    /// <summary>The realm of the Basic challenge.</summary>
    public string Realm { get; set; } = "cacheregistry";

    /// <summary>Requests without credentials are served (as the user <c>anonymous</c>, subject to the rules).</summary>
    public bool Anonymous { get; set; }

    /// <summary>Named groups of users, for rules: <c>Groups:ops:0=alice</c>.</summary>
    public Dictionary<string, List<string>> Groups { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Who may pull what, first match decides; none: every authenticated user pulls everything.</summary>
    public List<AccessRule> Rules { get; set; } = [];
}

/// <summary>One access rule: users (names, <c>@group</c>, <c>*</c> for any signed-in user, <c>anonymous</c>) and repository patterns.</summary>
public sealed class AccessRule
{
    public string? Name { get; set; }
    public List<string> Users { get; set; } = [];
    /// <summary>Cache keys such as <c>docker.io/library/*</c> or <c>ghcr.io/acme/**</c>; <c>**</c> for all.</summary>
    public List<string> Repositories { get; set; } = [];
    /// <summary>False makes this a deny rule.</summary>
    public bool Allow { get; set; } = true;
    /// <summary><c>pull</c> and/or <c>push</c> (to a registry with Push=true); none given: pull.</summary>
    public List<string> Actions { get; set; } = [];
}

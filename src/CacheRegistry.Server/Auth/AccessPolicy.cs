using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// Registry:Auth:Rules: the first rule whose users and repositories match decides. Without rules
/// every signed-in user (and anonymous, when allowed) pulls everything.
/// </summary>
internal sealed class AccessPolicy(RegistryOptions options)
{
    private readonly AuthOptions _auth = options.Auth;

    public bool IsOn => !string.IsNullOrEmpty(_auth.Htpasswd);

    /// <summary>Null when <paramref name="user"/> may pull <paramref name="repository"/>; otherwise why not.</summary>
    public string? Refusal(string user, string repository)
    {
        if (_auth.Rules.Count == 0 || user == InternalCaller.User) return null;
        for (var i = 0; i < _auth.Rules.Count; i++)
        {
            var rule = _auth.Rules[i];
            if (!rule.Users.Any(u => Names(u, user)) || !rule.Repositories.Any(p => RepositoryPattern.Matches(p, repository))) continue;
            return rule.Allow ? null : $"rule '{rule.Name ?? i.ToString(System.Globalization.CultureInfo.InvariantCulture)}' (Registry:Auth:Rules:{i}) denies {user} pulling {repository}";
        }
        return $"no rule in Registry:Auth:Rules lets {user} pull {repository}";
    }

    /// <summary>Throws 403 DENIED when the user may not pull the repository.</summary>
    public void Demand(string? user, string repository)
    {
        if (user is null || Refusal(user, repository) is not { } why) return;
        throw new RegistryError(403, "DENIED", why);
    }

    /// <summary>The rules of <c>Registry:Auth</c>: one line per problem.</summary>
    internal sealed class Rules : OptionRules<AuthOptions>
    {
        protected override void Check(AuthOptions o, OptionProblems p)
        {
            if (string.IsNullOrEmpty(o.Htpasswd))
            {
                if (o.Rules.Count > 0 || o.Anonymous) p.Add("Registry:Auth:Rules and Anonymous need Registry:Auth:Htpasswd (the users to apply them to)");
                return;
            }
            if (!File.Exists(o.Htpasswd)) p.Add($"Registry:Auth:Htpasswd = '{o.Htpasswd}': there is no such file (make one with htpasswd -B -c FILE USER)");
            for (var i = 0; i < o.Rules.Count; i++)
            {
                var rule = o.Rules[i];
                if (rule.Users.Count == 0 || rule.Repositories.Count == 0)
                    p.Add($"Registry:Auth:Rules:{i}: expected Users and Repositories (e.g. Users:0=@ops, Repositories:0=docker.io/**)");
                foreach (var group in rule.Users.Where(u => u.StartsWith('@') && !o.Groups.ContainsKey(u[1..])))
                    p.Add($"Registry:Auth:Rules:{i}: group {group} is not in Registry:Auth:Groups");
            }
        }
    }

    private bool Names(string entry, string user) => entry switch
    {
        "*" => user != ClientAuthenticator.Anonymous,
        _ when entry.StartsWith('@') => _auth.Groups.TryGetValue(entry[1..], out var members) && members.Contains(user, StringComparer.Ordinal),
        _ => entry == user,
    };
}

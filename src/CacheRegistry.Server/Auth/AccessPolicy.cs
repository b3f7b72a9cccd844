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

    /// <summary>
    /// Null when <paramref name="user"/> may <paramref name="action"/> (pull or push)
    /// <paramref name="repository"/>; otherwise why not. Without rules everyone signed in pulls and
    /// nobody pushes: pushes go out with the cache's own credentials, so a rule must say who may.
    /// </summary>
    public string? Refusal(string user, string repository, string action = "pull")
    {
        if (user == InternalCaller.User) return null;
        var verb = action == "push" ? "pushing to" : "pulling";
        for (var i = 0; i < _auth.Rules.Count; i++)
        {
            var rule = _auth.Rules[i];
            if (!rule.Users.Any(u => Names(u, user)) || !rule.Repositories.Any(p => RepositoryPattern.Matches(p, repository)) || !ActionsOf(rule).Contains(action)) continue;
            return rule.Allow ? null : $"rule '{rule.Name ?? i.ToString(System.Globalization.CultureInfo.InvariantCulture)}' (Registry:Auth:Rules:{i}) denies {user} {verb} {repository}";
        }
        if (_auth.Rules.Count == 0 && action == "pull") return null;
        return action == "push"
            ? $"no rule in Registry:Auth:Rules lets {user} push to {repository} (a rule with Actions:0=push does)"
            : $"no rule in Registry:Auth:Rules lets {user} pull {repository}";
    }

    private static readonly List<string> PullOnly = ["pull"];

    private static List<string> ActionsOf(AccessRule rule) => rule.Actions.Count == 0 ? PullOnly : rule.Actions;

    /// <summary>Throws 403 DENIED when the cache has a login and the user may not push to the repository.</summary>
    public void DemandPush(string? user, string repository)
    {
        if (user is null || Refusal(user, repository, "push") is not { } why) return;
        throw new RegistryError(403, "DENIED", why);
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
                foreach (var action in rule.Actions.Where(a => a is not ("pull" or "push")))
                    p.Add($"Registry:Auth:Rules:{i}:Actions = '{action}': expected pull or push");
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

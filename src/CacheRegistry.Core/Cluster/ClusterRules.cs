namespace CacheRegistry.Cluster;

/// <summary><c>Registry:Cluster</c>: how replicas reach each other.</summary>
public sealed class ClusterRules : OptionRules<ClusterOptions>
{
    protected override void Check(ClusterOptions o, OptionProblems p)
    {
        var c = o;
        p.Require(string.IsNullOrEmpty(c.AdvertiseUrl) == string.IsNullOrEmpty(c.Secret),
            "Registry:Cluster:AdvertiseUrl and Secret: set both (replicas stream each other's fills) or neither");
        p.Require(string.IsNullOrEmpty(c.AdvertiseUrl) || (Uri.TryCreate(c.AdvertiseUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"),
            $"Registry:Cluster:AdvertiseUrl = '{c.AdvertiseUrl}': expected the http(s) URL other replicas reach this one at, such as http://10.1.2.3:5000 or, for an IPv6 address, http://[fd00::3]:5000");
        p.Require(c.Secret is not { Length: > 0 and < 16 }, "Registry:Cluster:Secret: expected at least 16 characters (openssl rand -hex 32)");
        p.Positive("Registry:Cluster", ("PeerTimeout", c.PeerTimeout));
    }
}

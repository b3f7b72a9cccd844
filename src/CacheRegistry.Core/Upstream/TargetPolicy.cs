using System.Net;
using System.Net.Sockets;

namespace CacheRegistry.Upstream;

/// <summary>Where an address is: what decides whether a redirect or token realm may send the cache there.</summary>
public enum AddressReach { Public, Private, Loopback, LinkLocal, Unusable }

/// <summary>
/// Which hosts an upstream may send the cache to, by redirect or token realm: http(s) only, and
/// never into loopback, private or link-local ranges unless the upstream's own endpoint is in that
/// same range (a lab registry on 127.0.0.1, a registry on the office network) or the host is in the
/// upstream's <c>AllowRedirectsTo</c> list. Link-local addresses (cloud metadata services) need the
/// list. Checked on the resolved addresses, before and again at connect time.
/// </summary>
public static class TargetPolicy
{
    public static AddressReach Classify(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] switch
            {
                127 or 0 => AddressReach.Loopback, // 0.0.0.0/8 reaches this host on Linux
                10 => AddressReach.Private,
                172 when b[1] is >= 16 and <= 31 => AddressReach.Private,
                192 when b[1] == 168 => AddressReach.Private,
                100 when b[1] is >= 64 and <= 127 => AddressReach.Private, // carrier-grade NAT
                169 when b[1] == 254 => AddressReach.LinkLocal,
                >= 224 => AddressReach.Unusable, // multicast, reserved, broadcast
                _ => AddressReach.Public,
            };
        }
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.IPv6Any)) return AddressReach.Loopback;
        if (address.IsIPv6LinkLocal) return AddressReach.LinkLocal;
        if (address.IsIPv6UniqueLocal || address.IsIPv6SiteLocal) return AddressReach.Private;
        if (address.IsIPv6Multicast) return AddressReach.Unusable;
        return AddressReach.Public;
    }

    /// <summary>Null when the cache may connect to <paramref name="addresses"/> for an endpoint in <paramref name="endpointReach"/>, else why not.</summary>
    public static string? Refusal(IReadOnlyList<IPAddress> addresses, AddressReach endpointReach)
    {
        if (addresses.Count == 0) return "it resolves to no address";
        foreach (var address in addresses)
        {
            var reach = Classify(address);
            if (reach == AddressReach.Public || (reach == endpointReach && reach is AddressReach.Loopback or AddressReach.Private)) continue;
            return $"it resolves to {address}, a {Describe(reach)} address, and the upstream's endpoint is {Describe(endpointReach)}";
        }
        return null;
    }

    public static bool IsAllowListed(IReadOnlyList<string> allowed, string host) =>
        allowed.Any(a => a.Equals(host, StringComparison.OrdinalIgnoreCase)
                         || (a.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(a[1..], StringComparison.OrdinalIgnoreCase)));

    public static async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);

    private static string Describe(AddressReach reach) => reach switch
    {
        AddressReach.Public => "public",
        AddressReach.Private => "private",
        AddressReach.Loopback => "loopback",
        AddressReach.LinkLocal => "link-local",
        _ => "unusable",
    };
}

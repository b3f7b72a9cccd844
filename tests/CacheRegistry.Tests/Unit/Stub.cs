using System.Net;
using CacheRegistry.Routing;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

/// <summary>Upstream clients on a stub handler, and name resolution that never leaves the machine.</summary>
public static class Stub
{
    /// <summary>
    /// Names for the redirect checks without DNS (nothing of a unit test may leave the machine):
    /// hosts ending in <c>.internal.test</c> are on a private network, <c>metadata.test</c> is the
    /// link-local metadata service, every other name is a public address.
    /// </summary>
    public static Task<IReadOnlyList<IPAddress>> Resolve(string host, CancellationToken ct) => Task.FromResult<IReadOnlyList<IPAddress>>(
        IPAddress.TryParse(host, out var literal) ? [literal]
        : host.EndsWith(".internal.test", StringComparison.Ordinal) ? [IPAddress.Parse("10.1.2.3")]
        : host == "metadata.test" ? [IPAddress.Parse("169.254.169.254")]
        : [IPAddress.Parse("203.0.113.10")]);

    public static RepositoryRef Repo(StubHandler handler, TimeProvider time, string name = "library/x", UpstreamOptions? options = null)
    {
        var timeouts = new TimeoutOptions { FirstByte = TimeSpan.FromSeconds(5) };
        var http = new HttpClient(handler);
        var client = new UpstreamClient("docker.io", options ?? new UpstreamOptions { Endpoints = ["https://registry.test"] },
            http, timeouts, time, NullLogger.Instance, resolve: Resolve);
        return new RepositoryRef(client, name);
    }
}

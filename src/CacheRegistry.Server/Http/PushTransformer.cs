using System.Net;
using System.Net.Http.Headers;
using CacheRegistry.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace CacheRegistry.Server.Http;

/// <summary>
/// One forwarded push request: the registry's own repository name in the path (the client may
/// have used a registry prefix or <c>?ns=</c>), the right credentials, and upload URLs in the
/// answer pointed back at the cache. Keeps the answer's status and digest for the caller.
/// </summary>
internal sealed class PushTransformer(RepositoryRef repo, WritePath path, Mount mount, AuthenticationHeaderValue? authorization, bool cacheLogin,
    Uri? session = null) : HttpTransformer
{
    private string _registryPrefix = "";

    public HttpStatusCode Status { get; private set; }
    public string? Digest { get; private set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
        CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        // The query goes on (an upload's _state, ?digest=, ?mount=&from=) without the routing hint,
        // a mount's source by the registry's name, or no mount at all.
        var query = string.Join('&', httpContext.Request.Query.Where(q => q.Key != "ns" && !(mount.Drop && q.Key is "mount" or "from"))
            .SelectMany(q => (q.Key == "from" && mount.From is { } from ? [from] : q.Value.AsEnumerable())
                .Select(v => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(v ?? ""))));
        _registryPrefix = new Uri(new Uri(destinationPrefix), $"v2/{repo.Name}/").AbsolutePath;
        proxyRequest.RequestUri = new Uri(new Uri(destinationPrefix), $"v2/{repo.Name}/{path.Tail}{(query.Length > 0 ? "?" + query : "")}");
        if (session is not null)
        {
            // A single-POST upload goes to the session opened for it, as the PUT that completes it.
            proxyRequest.Method = HttpMethod.Put;
            proxyRequest.RequestUri = new UriBuilder(session) { Query = string.Join('&', new[] { session.Query.TrimStart('?'), query }.Where(q => q.Length > 0)) }.Uri;
        }
        proxyRequest.Headers.Host = null;
        // Signed in at the cache: the client's credentials are the cache's, never the registry's.
        if (cacheLogin) proxyRequest.Headers.Authorization = authorization;
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copy = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        if (proxyResponse is null) return copy;
        Status = proxyResponse.StatusCode;
        Digest = proxyResponse.Headers.TryGetValues("Docker-Content-Digest", out var d) ? d.FirstOrDefault() : null;
        if (proxyResponse.Headers.Location is { } location)
            httpContext.Response.Headers.Location = ToCache(httpContext.Request, proxyResponse.RequestMessage!.RequestUri!, location);
        // The registry's challenge is for its own login; with the cache's login on, the client has nothing to answer it with.
        if (cacheLogin) httpContext.Response.Headers.WWWAuthenticate = default;
        return copy;
    }

    /// <summary>The registry's upload URL as the cache's: same session and state, the client's own name and routing hint.</summary>
    private string ToCache(HttpRequest request, Uri sent, Uri location)
    {
        var absolute = location.IsAbsoluteUri ? location : new Uri(sent, location);
        var rest = absolute.AbsolutePath.StartsWith(_registryPrefix, StringComparison.Ordinal) ? absolute.AbsolutePath[_registryPrefix.Length..] : null;
        if (rest is null) return absolute.ToString(); // not an API path of this repository: passed on as the registry gave it
        var query = absolute.Query.TrimStart('?');
        if (request.Query["ns"].FirstOrDefault() is { } ns)
            query = (query.Length > 0 ? query + "&" : "") + "ns=" + Uri.EscapeDataString(ns);
        return $"{request.Scheme}://{request.Host}/v2/{path.Name}/{rest}{(query.Length > 0 ? "?" + query : "")}";
    }
}

/// <summary>What happens to a mount's parameters: <see cref="From"/> replaces <c>from</c>; <see cref="Drop"/> removes <c>mount</c> and <c>from</c>.</summary>
internal sealed record Mount(string? From, bool Drop)
{
    public static readonly Mount None = new(null, false);
    public static readonly Mount Dropped = new(null, true);
}

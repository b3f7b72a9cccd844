using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Server.Http;

// The list endpoints: tags, the catalog and referrers. Tags and the catalog are paged the same way.
internal sealed partial class RegistryHandler
{
    private async Task ServeTagsAsync(HttpContext ctx, RepositoryRef repo, string clientName, RequestOutcome outcome)
    {
        var (all, how) = await tags.ListAsync(repo, ctx.RequestAborted);
        outcome.Cache = how;
        var page = Page(ctx, all, $"/v2/{clientName}/tags/list");
        await WriteJsonAsync(ctx, JsonSerializer.SerializeToUtf8Bytes(new TagList(clientName, page), RegistryJson.Relaxed.TagList), "application/json");
    }

    /// <summary>The repositories this cache holds, as names a client can pull them by (<c>docker.io/library/nginx</c>).</summary>
    private async Task ServeCatalogAsync(HttpContext ctx)
    {
        var all = await catalog.ListRepositoriesAsync(ctx.RequestAborted);
        // A user sees the repositories they may pull.
        if (Auth.ClientAuthGate.UserOf(ctx) is { } user) all = [.. all.Where(r => access.Refusal(user, r) is null)];
        // Of a passthrough registry, only repositories the upstream let this client into (private names stay private).
        var identity = CacheRegistry.Upstream.ClientCredentials.Parse(ctx.Request.Headers.Authorization.ToString())?.Identity;
        all = [.. all.Where(r => upstreams.Find(r[..Math.Max(0, r.IndexOf('/', StringComparison.Ordinal))]) is not { IsPassthrough: true } || passthrough.Allows(identity, r))];
        var page = Page(ctx, all, "/v2/_catalog");
        await WriteJsonAsync(ctx, JsonSerializer.SerializeToUtf8Bytes(new Catalog(page), RegistryJson.Relaxed.Catalog), "application/json");
    }

    private async Task ServeReferrersAsync(HttpContext ctx, RepositoryRef repo, Digest subject, RequestOutcome outcome)
    {
        var artifactType = ctx.Request.Query["artifactType"].FirstOrDefault();
        var answer = await referrers.GetAsync(repo, subject, artifactType, ctx.RequestAborted);
        outcome.Cache = answer.Outcome;
        if (answer.Filtered) ctx.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        await WriteJsonAsync(ctx, answer.Index, MediaTypes.OciIndex);
    }

    /// <summary>
    /// <c>n</c> and <c>last</c> over a list in ordinal order: at most n entries after last, and a
    /// <c>Link: &lt;…&gt;; rel="next"</c> when more remain.
    /// </summary>
    private static List<string> Page(HttpContext ctx, IReadOnlyList<string> all, string path)
    {
        var query = ctx.Request.Query;
        int? n = null;
        if (query.TryGetValue("n", out var nText))
        {
            if (!int.TryParse(nText, System.Globalization.NumberStyles.None, null, out var parsed))
                throw RegistryError.BadRequest("PAGINATION_NUMBER_INVALID", $"n='{RegistryPath.Truncate(nText.ToString())}' is not a non-negative number");
            n = parsed;
        }
        var last = query["last"].FirstOrDefault();
        var sorted = all.Order(StringComparer.Ordinal).ToList();
        var after = last is null ? sorted : sorted.Where(t => string.CompareOrdinal(t, last) > 0).ToList();
        var page = n is int take ? after.Take(take).ToList() : after;
        if (n is > 0 && after.Count > page.Count)
        {
            var ns = query["ns"].FirstOrDefault();
            var nsPart = ns is null ? "" : "&ns=" + Uri.EscapeDataString(ns);
            ctx.Response.Headers.Link = $"<{path}?n={n}&last={Uri.EscapeDataString(page[^1])}{nsPart}>; rel=\"next\"";
        }
        return page;
    }

    private static async Task WriteJsonAsync(HttpContext ctx, byte[] body, string contentType)
    {
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = body.Length;
        if (HttpMethods.IsGet(ctx.Request.Method)) await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted);
    }
}

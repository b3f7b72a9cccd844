using System.Globalization;
using CacheRegistry.Cache;
using CacheRegistry.Cluster;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Http;

/// <summary>
/// <c>GET /internal/fills/{digest}?from=N</c>: this replica's running fill of a blob (or its stored
/// copy), for another replica whose client asked for it while this one holds the fill's lease.
/// Bytes flow as they arrive from the upstream, the last one only after the digest matched. Only
/// requests signed with Registry:Cluster:Secret are answered; anything else gets the 404 of a path
/// that does not exist.
/// </summary>
internal sealed class ReplicaEndpoint(RegistryOptions options, BlobCache blobs, TimeProvider time)
{
    public const string Prefix = "/internal/fills/";

    public async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        var cluster = options.Cluster;
        if (!cluster.StreamsFromPeers || !HttpMethods.IsGet(ctx.Request.Method) || !path.StartsWith(Prefix, StringComparison.Ordinal)
            || !Digest.TryParse(path[Prefix.Length..], out var digest)
            || !long.TryParse(ctx.Request.Query["from"], NumberStyles.None, CultureInfo.InvariantCulture, out var from)
            || !PeerSignature.Verify(cluster.Secret!, ctx.Request.Headers.Authorization, digest, from, time.GetUtcNow()))
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        var ct = ctx.RequestAborted;
        if (await blobs.OpenForReplicaAsync(digest, from, cluster.PeerTimeout / 2, ct) is not var (size, body))
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        await using (body)
        {
            ctx.Response.StatusCode = StatusCodes.Status200OK;
            ctx.Response.ContentType = "application/octet-stream";
            if (size is long total)
            {
                ctx.Response.Headers[PeerFillClient.SizeHeader] = total.ToString(CultureInfo.InvariantCulture);
                ctx.Response.ContentLength = total - from;
            }
            try
            {
                // Headers now, not with the first bytes: the other replica bounds its wait for them
                // (Registry:Cluster:PeerTimeout), while the upstream may take longer to send anything.
                await ctx.Response.StartAsync(ct);
                await ctx.Response.Body.FlushAsync(ct);
                await body.CopyToAsync(ctx.Response.Body, 64 * 1024, ct);
            }
            catch (Exception e) when (e is IOException or RegistryError)
            {
                // The fill failed: cut the connection so the other replica never takes a short body for a whole one.
                ctx.Abort();
            }
        }
    }
}

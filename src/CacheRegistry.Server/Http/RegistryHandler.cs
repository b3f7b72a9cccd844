using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Signing;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Http;

/// <summary>The read side of the distribution API under <c>/v2/</c>: parse, route, answer from the cache.</summary>
internal sealed partial class RegistryHandler(UpstreamRouter router, ManifestCache manifests, BlobCache blobs, TagLister tags, ReferrersCache referrers,
    IMetadataCatalog catalog, Auth.AccessPolicy access, PassthroughAccess passthrough, UpstreamSet upstreams, SignatureGate signatures, PushForwarder pushes,
    RegistryOptions options)
{
    // 1 MiB reads into the response pipe: 2.96 -> 3.23 GB/s for a warm 64 MB blob on loopback
    // (256 KiB before); one such buffer per blob being streamed.
    private const int CopyBufferSize = 1024 * 1024;
    private static readonly byte[] EmptyJson = "{}"u8.ToArray();

    public async Task HandleAsync(HttpContext ctx)
    {
        var request = ctx.Request;
        var rest = (request.Path.Value ?? "/v2/")[3..].TrimStart('/');
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) || rest.Contains("/blobs/uploads", StringComparison.Ordinal))
        {
            if (rest.Length == 0) throw RegistryError.Unsupported($"{request.Method} /v2/ is not supported");
            await pushes.HandleAsync(ctx, rest);
            return;
        }

        var path = RegistryPath.Parse(rest);
        RequestOutcome.Of(ctx).Kind = path.Kind switch
        {
            RequestKind.Manifest => "manifest",
            RequestKind.Blob => "blob",
            RequestKind.TagsList => "tags",
            RequestKind.Referrers => "referrers",
            RequestKind.Base => "ping",
            RequestKind.Catalog => "catalog",
            _ => "other",
        };
        CheckQuery(path.Kind, request.Query);
        if (path.Kind == RequestKind.Base)
        {
            // Docker and skopeo send credentials only when the ping asks for them, and Docker's
            // registry-mirrors pulls give up on a ping that asks. So the ping asks only under a host
            // name whose registry wants the client's own login (passthrough, or pushes): the default
            // registry's, or a name mapped in Registry:Hosts.
            var forHost = router.ForHost(request.Host.Host);
            var pushHost = forHost is not null && forHost.AllowsPush ? forHost : null;
            if (forHost is not null && (forHost.IsPassthrough || forHost.AllowsPush) && ClientCredentials.Parse(request.Headers.Authorization.ToString()) is null)
                throw new RegistryError(401, "UNAUTHORIZED", "this cache passes clients' own credentials on to some registries (ClientCredentials=Passthrough, or Push): send them if you have them")
                {
                    Challenge = $"Basic realm=\"{options.Auth.Realm}\"",
                };
            if (!access.IsOn && pushHost is not null && await pushes.LoginRefusalAsync(pushHost, request.Headers.Authorization.ToString(), ctx.RequestAborted) is { } refused)
                throw new RegistryError(401, "UNAUTHORIZED", refused) { Challenge = $"Basic realm=\"{options.Auth.Realm}\"" };
            await WriteJsonAsync(ctx, EmptyJson, "application/json");
            return;
        }
        if (path.Kind == RequestKind.Catalog)
        {
            await ServeCatalogAsync(ctx);
            return;
        }

        var repo = router.Resolve(path.Name, request.Query["ns"].FirstOrDefault(), request.Host.Host);
        access.Demand(Auth.ClientAuthGate.UserOf(ctx), repo.Key);
        if (repo.Upstream.IsPassthrough)
        {
            // Set here, not in a called async method, so it flows on to everything this request awaits.
            ClientCredentials.Current = ClientCredentials.Parse(request.Headers.Authorization.ToString());
            var notFound = path.Kind switch { RequestKind.Blob => "BLOB_UNKNOWN", RequestKind.TagsList => "NAME_UNKNOWN", _ => "MANIFEST_UNKNOWN" };
            await passthrough.CheckAsync(repo, path.Reference, notFound, ct => ProbeAsync(repo, path, ct), ctx.RequestAborted);
        }
        var outcome = RequestOutcome.Of(ctx);
        outcome.Upstream = repo.Upstream.Name;
        outcome.Repository = repo.Key;
        outcome.Reference = path.Reference;
        switch (path.Kind)
        {
            case RequestKind.Manifest: await ServeManifestAsync(ctx, repo, path.Reference, outcome); break;
            case RequestKind.Blob: await ServeBlobAsync(ctx, repo, Digest.Parse(path.Reference), outcome); break;
            case RequestKind.TagsList: await ServeTagsAsync(ctx, repo, path.Name, outcome); break;
            default: await ServeReferrersAsync(ctx, repo, Digest.Parse(path.Reference), outcome); break;
        }
    }

    /// <summary>The upstream request that proves a client may have what it asks for: a HEAD of it (a one-entry tag list for tags).</summary>
    private static async Task ProbeAsync(RepositoryRef repo, RegistryPath path, CancellationToken ct)
    {
        var upstream = repo.Upstream;
        switch (path.Kind)
        {
            case RequestKind.Manifest:
                (await upstream.HeadManifestAsync(repo.Name, path.Reference, ct)).Dispose();
                break;
            case RequestKind.Blob:
                (await upstream.HeadBlobAsync(repo.Name, Digest.Parse(path.Reference), ct)).Dispose();
                break;
            case RequestKind.Referrers:
                (await upstream.HeadManifestAsync(repo.Name, path.Reference, ct)).Dispose();
                break;
            default:
                await upstream.ListTagsPageAsync(repo.Name, "?n=1", 64 * 1024, ct);
                break;
        }
    }

    private static void CheckQuery(RequestKind kind, IQueryCollection query)
    {
        foreach (var key in query.Keys)
        {
            var allowed = key == "ns" || (kind is RequestKind.TagsList or RequestKind.Catalog && key is "n" or "last") || (kind == RequestKind.Referrers && key == "artifactType");
            if (!allowed) throw RegistryError.BadRequest("UNSUPPORTED", $"query parameter '{RegistryPath.Truncate(key)}' is not supported on this endpoint");
        }
    }

    private async Task ServeManifestAsync(HttpContext ctx, RepositoryRef repo, string reference, RequestOutcome outcome)
    {
        var result = await manifests.GetAsync(repo, reference, ctx.RequestAborted);
        var manifest = result.Manifest;
        await signatures.DemandManifestAsync(repo, reference, manifest, ctx.RequestAborted);
        if (!AcceptHeader.QuickAllows(ctx.Request.Headers.Accept, manifest.MediaType)
            && AcceptHeader.Parse(ctx.Request.Headers.Accept) is var accept && !accept.Allows(manifest.MediaType))
        {
            // As distribution does for clients that know no indexes: a tag's linux/amd64 image.
            var child = MediaTypes.IsIndex(manifest.MediaType) && accept.AllowsSingleManifest && !Digest.TryParse(reference, out _)
                ? ManifestDocument.TryParse(manifest.Content)?.ChildFor("linux", "amd64") : null;
            if (child is null)
                throw RegistryError.ManifestUnknown($"manifest {reference} is {manifest.MediaType}, which the request's Accept ({accept}) does not list");
            result = await manifests.GetByDigestAsync(repo, child.Value, ctx.RequestAborted);
            manifest = result.Manifest;
            await signatures.DemandManifestAsync(repo, manifest.DigestText, manifest, ctx.RequestAborted);
        }
        outcome.Cache = result.Outcome;
        outcome.Endpoint = result.Endpoint;

        var response = ctx.Response;
        response.ContentType = manifest.MediaType;
        response.Headers["Docker-Content-Digest"] = manifest.DigestText;
        response.Headers.ETag = manifest.ETag;
        response.ContentLength = manifest.Content.Length;
        if (HttpMethods.IsHead(ctx.Request.Method)) return;
        outcome.Bytes = manifest.Content.Length;
        await response.Body.WriteAsync(manifest.Content, ctx.RequestAborted);
    }

    private async Task ServeBlobAsync(HttpContext ctx, RepositoryRef repo, Digest digest, RequestOutcome outcome)
    {
        var response = ctx.Response;
        var rangeHeader = ctx.Request.Headers.Range.ToString();
        ByteRange.CheckSyntax(rangeHeader); // malformed ranges fail before anything is fetched
        await signatures.DemandBlobAsync(repo, digest, ctx.RequestAborted);
        response.Headers["Docker-Content-Digest"] = digest.ToString();
        response.Headers.AcceptRanges = "bytes";
        response.ContentType = "application/octet-stream";

        if (HttpMethods.IsHead(ctx.Request.Method))
        {
            var (size, how) = await blobs.StatAsync(repo, digest, ctx.RequestAborted);
            outcome.Cache = how;
            response.ContentLength = size;
            return;
        }

        using var source = await blobs.OpenAsync(repo, digest, ctx.RequestAborted);
        outcome.Cache = source.Outcome;
        outcome.Endpoint = source.Endpoint;
        if (source.RedirectUrl is { } redirect)
        {
            response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            response.Headers.Location = redirect;
            return;
        }
        long start = 0;
        long? length = null;
        if (source.Size is long total && ByteRange.Parse(rangeHeader, total) is { } range)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = $"bytes {range.Start}-{range.End}/{total}";
            (start, length) = (range.Start, range.Length);
        }
        response.ContentLength = length ?? source.Size;
        await using var stream = await source.OpenAsync(start, length, ctx.RequestAborted);
        // A fill's first bytes may be a while (another replica downloads it): the client has its
        // headers now, so it knows the size and that the transfer is under way.
        if (source.Outcome != CacheOutcome.Hit)
        {
            await response.StartAsync(ctx.RequestAborted);
            await response.BodyWriter.FlushAsync(ctx.RequestAborted);
        }
        outcome.Bytes = await CopyAsync(stream, response.BodyWriter, length ?? source.Size,
            source.Outcome == CacheOutcome.Hit ? null : () => outcome.FirstByteAt = System.Diagnostics.Stopwatch.GetTimestamp(), ctx.RequestAborted);
    }

    /// <summary>
    /// Copies exactly <paramref name="length"/> bytes (or to the end when unknown), reading straight
    /// into the response pipe's memory: one copy fewer than going through a buffer of our own.
    /// </summary>
    private static async Task<long> CopyAsync(Stream from, System.IO.Pipelines.PipeWriter to, long? length, Action? firstBytes, CancellationToken ct)
    {
        long copied = 0;
        while (length is null || copied < length)
        {
            var memory = to.GetMemory(CopyBufferSize);
            var want = (int)Math.Min(memory.Length, (length ?? long.MaxValue) - copied);
            var n = await from.ReadAsync(memory[..want], ct);
            if (n == 0) break;
            if (copied == 0) firstBytes?.Invoke();
            to.Advance(n);
            copied += n;
            var flushed = await to.FlushAsync(ct);
            if (flushed.IsCanceled || flushed.IsCompleted) break;
        }
        if (length is long expected && copied != expected)
            throw new IOException($"blob ended after {copied} of {expected} bytes");
        return copied;
    }
}

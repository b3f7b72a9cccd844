using System.Net;
using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Storage;
using CacheRegistry.Telemetry;
using CacheRegistry.Upstream;
using Yarp.ReverseProxy.Forwarder;

namespace CacheRegistry.Server.Http;

/// <summary>
/// The write side of <c>/v2/</c> for registries with <c>Push=true</c>: blob uploads (monolithic,
/// chunked, mounts), manifest PUTs and, with <c>AllowDelete</c>, deletes, forwarded to the
/// registry's origin by YARP's <see cref="IHttpForwarder"/>, which streams both ways. The upload
/// URLs the registry answers with are rewritten to the cache's, so the client keeps talking to the
/// cache; the registry's auth challenges reach the client unchanged (unless the cache has its own
/// login, when the cache's credentials for the registry are used). A manifest the registry took
/// moves the cache's view of its tag at once.
/// </summary>
internal sealed partial class PushForwarder(IHttpForwarder forwarder, UpstreamRouter router, ManifestCache manifests, NegativeCache missing,
    PassthroughAccess passthrough, IEnumerable<IPurgeNotifier> replicas, Auth.AccessPolicy access, CacheMetrics metrics, RegistryOptions options, TimeProvider time, ILogger<PushForwarder> log)
{
    // Logins checked at the registries lately (by a hash of the header), so a client's pings do not each cost a request upstream.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string? Refusal, DateTimeOffset Until)> _logins = new(StringComparer.Ordinal);
    private static readonly TimeSpan LoginCheckTtl = TimeSpan.FromMinutes(1);

    /// <summary>
    /// <c>docker login</c> to the cache (which has no login of its own) under a host name mapped to
    /// a registry that takes pushes: that registry's origin is asked whether it takes the
    /// credentials. Null when it does, when none were sent, or when it could not be asked.
    /// </summary>
    public async Task<string?> LoginRefusalAsync(UpstreamClient upstream, string authorization, CancellationToken ct)
    {
        if (authorization.Length == 0) return null;
        var key = upstream.Name + " " + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(authorization)));
        var now = time.GetUtcNow();
        if (_logins.TryGetValue(key, out var known) && known.Until > now) return known.Refusal;
        string? refusal = null;
        try
        {
            using var ping = new HttpRequestMessage(HttpMethod.Get, new Uri(upstream.Origin.BaseUri, "v2/"));
            ping.Headers.TryAddWithoutValidation("Authorization", authorization);
            using var firstByte = new Common.Deadline(options.Timeouts.FirstByte, time, ct);
            using var response = await upstream.PushTransport!.SendAsync(ping, firstByte.Token);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                refusal = $"{upstream.Name} ({upstream.Origin.Authority}) refused these credentials: log in with your account of that registry";
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            Log.LoginUnchecked(log, upstream.Name, e.Message); // not refused: the first push will say
        }
        if (_logins.Count > 10_000) _logins.Clear();
        _logins[key] = (refusal, now + LoginCheckTtl);
        return refusal;
    }

    public async Task HandleAsync(HttpContext ctx, string rest)
    {
        var request = ctx.Request;
        var path = WritePath.Parse(rest);
        var outcome = RequestOutcome.Of(ctx);
        outcome.Kind = "push";
        var repo = router.Resolve(path.Name, request.Query["ns"].FirstOrDefault(), request.Host.Host);
        var upstream = repo.Upstream;
        outcome.Upstream = upstream.Name;
        outcome.Repository = repo.Key;
        outcome.Reference = path.Reference;
        var isDelete = HttpMethods.IsDelete(request.Method) && path.Kind is WriteKind.Manifest or WriteKind.Blob;
        if (!upstream.AllowsPush)
            throw RegistryError.Unsupported($"{request.Method} is not supported: pushes to {upstream.Name} are off (Registry:Upstreams:{upstream.Name}:Push=true forwards them to the registry)");
        if (isDelete && !upstream.AllowsDelete)
            throw RegistryError.Unsupported($"DELETE is not supported: deletes in {upstream.Name} are off (Registry:Upstreams:{upstream.Name}:AllowDelete=true forwards them)");
        if (!IsWriteMethod(path.Kind, request.Method))
            throw RegistryError.Unsupported($"{request.Method} is not a method of /v2/<name>/{path.Tail}");
        var user = Auth.ClientAuthGate.UserOf(ctx);
        access.DemandPush(user, repo.Key);
        var mount = path.Kind == WriteKind.UploadStart ? MountOf(request, repo, user) : Mount.None;
        // Set here, not in a called async method, so it flows on to what this request awaits.
        if (upstream.IsPassthrough) ClientCredentials.Current = ClientCredentials.Parse(request.Headers.Authorization.ToString());

        // A layer is as large as it is: Kestrel's default cap (about 28 MiB) is for requests answered here.
        if (ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        byte[]? manifest = null;
        if (path.Kind == WriteKind.Manifest && HttpMethods.IsPut(request.Method))
        {
            manifest = await ReadManifestAsync(request, options.MaxManifestBytes, ctx.RequestAborted);
            request.Body = new MemoryStream(manifest, writable: false);
        }
        var body = new CountingStream(request.Body);
        request.Body = body;
        var authorization = access.IsOn ? await upstream.PushAuthorizationAsync(repo.Name, mount.From, ctx.RequestAborted) : null;
        Uri? session = null;
        if (IsSinglePost(request, path, mount))
        {
            session = await OpenSessionAsync(ctx, repo, authorization);
            if (session is null) return; // the registry's own answer went to the client
        }
        var transformer = new PushTransformer(repo, path, mount, authorization, access.IsOn, session);
        var config = new ForwarderRequestConfig { ActivityTimeout = options.Timeouts.FirstByte + options.Timeouts.Idle };
        var error = await forwarder.SendAsync(ctx, upstream.Origin.BaseUri.ToString(), upstream.PushTransport!, config, transformer);
        metrics.Pushed(upstream.Name, KindOf(path, isDelete), error == ForwarderError.None ? ((int)transformer.Status).ToString(System.Globalization.CultureInfo.InvariantCulture) : "failed", body.Count);
        outcome.Endpoint = upstream.Origin.Authority;
        if (error != ForwarderError.None)
        {
            var reason = ctx.GetForwarderErrorFeature()?.Exception?.Message ?? error.ToString();
            Log.PushFailed(log, repo.Key, path.Tail, upstream.Origin.Authority, error.ToString(), reason);
            if (ctx.Response.HasStarted || error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled) return;
            throw new RegistryError(502, "UNAVAILABLE", $"forwarding the push to {upstream.Name} ({upstream.Origin.Authority}) failed: {reason}");
        }
        if (transformer.Status is HttpStatusCode.Created or HttpStatusCode.Accepted && Digest.TryParse(transformer.Digest, out var digest))
            await RecordAsync(repo, path, request.Method, digest, manifest, request.ContentType, body.Count);
    }

    private async Task RecordAsync(RepositoryRef repo, WritePath path, string method, Digest digest, byte[]? manifest, string? contentType, long bytes)
    {
        if (repo.Upstream.IsPassthrough)
        {
            await passthrough.ForgetMissingAsync(repo, digest.ToString());
            if (path.Kind == WriteKind.Manifest) await passthrough.ForgetMissingAsync(repo, path.Reference);
        }
        if (path.Kind == WriteKind.Manifest && HttpMethods.IsPut(method))
        {
            await manifests.PushedAsync(repo, path.Reference, digest, manifest, contentType);
            // The other replicas drop the tag they hold in memory too (as after a purge): the view moves everywhere at once.
            foreach (var replica in replicas) await replica.PublishAsync(CancellationToken.None);
            Log.ManifestPushed(log, repo.Key, path.Reference, digest.ToString(), repo.Upstream.Origin.Authority);
        }
        else if (path.Kind is WriteKind.Upload or WriteKind.UploadStart)
        {
            missing.Forget(repo, digest.ToString()); // a HEAD before the upload found nothing; now there is something
            Log.BlobPushed(log, repo.Key, digest.ToString(), bytes, repo.Upstream.Origin.Authority);
        }
    }

    private static bool IsWriteMethod(WriteKind kind, string method) => kind switch
    {
        WriteKind.UploadStart => HttpMethods.IsPost(method),
        WriteKind.Upload => HttpMethods.IsPatch(method) || HttpMethods.IsPut(method) || HttpMethods.IsGet(method) || HttpMethods.IsDelete(method),
        WriteKind.Manifest => HttpMethods.IsPut(method) || HttpMethods.IsDelete(method),
        _ => HttpMethods.IsDelete(method),
    };

    private static string KindOf(WritePath path, bool isDelete) => isDelete ? "delete" : path.Kind == WriteKind.Manifest ? "manifest" : "blob";

    /// <summary>
    /// A cross-repository mount (<c>?mount=&amp;from=</c>) as the registry must see it: <c>from</c> is
    /// the client's name (with the registry prefix or <c>?ns=</c>, as the path's) and becomes the
    /// registry's. A mount that cannot be one is dropped, so the registry starts a plain upload and
    /// the client sends the bytes: a source in another registry or refused here, or, with the
    /// cache's login, one the client may not pull (its credentials are the cache's: the registry
    /// could not tell) or one left to the registry to find (no <c>from</c>).
    /// </summary>
    private Mount MountOf(HttpRequest request, RepositoryRef target, string? user)
    {
        if (request.Query["mount"].Count == 0) return Mount.None;
        if (request.Query["from"].FirstOrDefault() is not { Length: > 0 } from) return access.IsOn ? Mount.Dropped : Mount.None;
        try
        {
            var source = router.Resolve(from, request.Query["ns"].FirstOrDefault(), request.Host.Host);
            if (source.Upstream != target.Upstream) return Mount.Dropped;
            access.Demand(user, source.Key);
            return new Mount(source.Name, Drop: false);
        }
        catch (RegistryError)
        {
            return Mount.Dropped;
        }
    }

    /// <summary>A manifest body, bounded: it is kept as the tag's new content when the registry takes it.</summary>
    private static async Task<byte[]> ReadManifestAsync(HttpRequest request, int max, CancellationToken ct)
    {
        if (request.ContentLength > max)
            throw RegistryError.BadRequest("MANIFEST_INVALID", $"the manifest is {request.ContentLength} bytes; at most {max} are taken (Registry:MaxManifestBytes)");
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > max) throw RegistryError.BadRequest("MANIFEST_INVALID", $"the manifest is over {max} bytes (Registry:MaxManifestBytes)");
            await buffer.WriteAsync(chunk.AsMemory(0, n), ct);
        }
        return buffer.ToArray();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "pushed {Repository}:{Reference} -> {Digest} to {Origin}")]
        public static partial void ManifestPushed(ILogger logger, string repository, string reference, string digest, string origin);

        [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "pushed blob {Digest} of {Repository} ({Bytes} bytes in the last request) to {Origin}")]
        public static partial void BlobPushed(ILogger logger, string repository, string digest, long bytes, string origin);

        [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "a login for pushes to {Upstream} could not be checked there: {Reason}")]
        public static partial void LoginUnchecked(ILogger logger, string upstream, string reason);

        [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "push {Repository} {Path} to {Origin} failed ({Error}): {Reason}")]
        public static partial void PushFailed(ILogger logger, string repository, string path, string origin, string error, string reason);
    }
}

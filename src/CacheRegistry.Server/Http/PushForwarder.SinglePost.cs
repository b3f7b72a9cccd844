using System.Net;
using System.Net.Http.Headers;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using Microsoft.AspNetCore.Http.Features;

namespace CacheRegistry.Server.Http;

// A single-POST upload (the blob in the POST that starts the session, ?digest=) is optional for a
// registry: distribution answers 202 without reading the body and closes the connection while the
// body is still coming, which cut the forwarded request (502). The cache opens the session itself
// and sends the body as the PUT that completes it, which every registry takes: the client gets
// the 201 it asked for, in one request.
internal sealed partial class PushForwarder
{
    private const int MaxAnswerBytes = 64 * 1024;

    private static bool IsSinglePost(HttpRequest request, WritePath path, Mount mount) =>
        path.Kind == WriteKind.UploadStart && mount == Mount.None && request.Query.ContainsKey("digest")
        && request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true && request.ContentLength != 0;

    /// <summary>
    /// The registry's URL of a new upload session for <paramref name="repo"/>, or null when the
    /// registry answered otherwise (a login asked for, a refusal), which the client then has.
    /// </summary>
    private async Task<Uri?> OpenSessionAsync(HttpContext ctx, RepositoryRef repo, AuthenticationHeaderValue? authorization)
    {
        var upstream = repo.Upstream;
        var origin = upstream.Origin;
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(origin.BaseUri, $"v2/{repo.Name}/blobs/uploads/")) { Content = new ByteArrayContent([]) };
        if (access.IsOn) post.Headers.Authorization = authorization;
        else if (ctx.Request.Headers.Authorization.ToString() is { Length: > 0 } own) post.Headers.TryAddWithoutValidation("Authorization", own);
        try
        {
            using var firstByte = new Common.Deadline(options.Timeouts.FirstByte, time, ctx.RequestAborted);
            using var response = await upstream.PushTransport!.SendAsync(post, firstByte.Token);
            if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
            {
                var session = location.IsAbsoluteUri ? location : new Uri(post.RequestUri!, location);
                // The client's body and credentials go to the registry's origin only, wherever its answer points.
                if (session.Scheme != origin.BaseUri.Scheme || session.Authority != origin.Authority)
                    throw new RegistryError(502, "UNAVAILABLE", $"{upstream.Name} ({origin.Authority}) answered with an upload URL on another host ({session.Authority}); the cache sends uploads to the registry's origin only");
                return session;
            }
            metrics.Pushed(upstream.Name, "blob", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture), 0);
            await AnswerAsync(ctx.Response, response, passChallenge: !access.IsOn);
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ctx.RequestAborted.IsCancellationRequested)
        {
            throw new RegistryError(502, "UNAVAILABLE", $"opening an upload session at {upstream.Name} ({origin.Authority}) failed: {e.Message}");
        }
    }

    /// <summary>The registry's answer as it gave it: status, the headers a client reads, and the (error) body, bounded.</summary>
    private static async Task AnswerAsync(HttpResponse answer, HttpResponseMessage response, bool passChallenge)
    {
        answer.StatusCode = (int)response.StatusCode;
        foreach (var name in new[] { "Docker-Distribution-Api-Version", "Retry-After", passChallenge ? "WWW-Authenticate" : "" })
            if (name.Length > 0 && response.Headers.TryGetValues(name, out var values)) answer.Headers[name] = values.ToArray();
        if (response.Content.Headers.ContentType is { } type) answer.ContentType = type.ToString();
        await using var body = await response.Content.ReadAsStreamAsync(answer.HttpContext.RequestAborted);
        var buffer = new byte[MaxAnswerBytes];
        var length = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, answer.HttpContext.RequestAborted);
        await answer.Body.WriteAsync(buffer.AsMemory(0, length), answer.HttpContext.RequestAborted);
    }
}

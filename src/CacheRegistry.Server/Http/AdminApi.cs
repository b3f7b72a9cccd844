using System.Security.Cryptography;
using System.Text;
using CacheRegistry.Maintenance;
using CacheRegistry.Oci;
using CacheRegistry.Routing;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;
using Microsoft.AspNetCore.Http.Features;

namespace CacheRegistry.Server.Http;

/// <summary>
/// /admin: stats, repositories and tags, purge, warm, ledger, gc. Every call needs
/// <c>Authorization: Bearer &lt;Registry:Admin:Token&gt;</c>, checked before anything of the request
/// is read; without a configured token the API is off. Errors are OCI error JSON like the
/// registry's own.
/// </summary>
internal static class AdminApi
{
    /// <summary>Admin bodies are a list of images at most.</summary>
    public const long MaxBodyBytes = 64 * 1024;

    internal sealed record WarmRequest(string[]? Images, string? Platform, bool? Referrers);

    public static void MapAdmin(this WebApplication app)
    {
        var admin = app.MapGroup("/admin");
        admin.MapGet("/stats", async (CacheStats stats, IBlobIndex index, CancellationToken ct) =>
        {
            var (count, bytes) = await index.TotalsAsync(ct);
            return Results.Json(stats.Snapshot(count, bytes));
        });
        admin.MapGet("/repositories", async (IMetadataCatalog catalog, IMetadataStore metadata, CancellationToken ct) =>
        {
            var list = new List<object>();
            foreach (var repository in await catalog.ListRepositoriesAsync(ct))
                list.Add(new { repository, tags = await metadata.ListTagsAsync(repository, ct) });
            return Results.Json(list);
        });
        admin.MapPost("/purge", async (string? image, Purger purger, CancellationToken ct) =>
        {
            var reference = Image(image ?? throw RegistryError.BadRequest("NAME_INVALID", "purge?image=<reference> is required"));
            var purged = await purger.PurgeAsync(reference, ct);
            return purged == 0
                ? throw RegistryError.ManifestUnknown($"{reference} is not in this cache")
                : Results.Ok(new { image = reference.ToString(), purged });
        });
        admin.MapPost("/warm", (WarmRequest? request, WarmJobs jobs) =>
        {
            if (request?.Images is not { Length: > 0 } names) throw RegistryError.BadRequest("BAD_REQUEST", """expected {"images": ["nginx:1.25", …], "platform": "linux/amd64", "referrers": true}""");
            var job = jobs.Start(names.Select(Image).ToList(), request.Platform, request.Referrers ?? true);
            return Results.Accepted($"/admin/warm/{job.Id}", new { id = job.Id, images = job.Images });
        });
        admin.MapGet("/warm/{id}", (string id, WarmJobs jobs) => jobs.Find(id) is { } job
            ? Results.Json(new { id, state = job.State, images = job.Images, results = job.Results, progress = job.Progress.TakeLast(50) })
            : throw new RegistryError(404, "NOT_FOUND", $"no warm job {RegistryPath.Truncate(id)} (finished jobs are kept an hour)"));
        admin.MapGet("/ledger", async (string? format, string? since, ILedger ledger, TimeProvider time, CancellationToken ct) =>
        {
            var f = format ?? "json";
            if (!LedgerFormat.Formats.Contains(f)) throw RegistryError.BadRequest("BAD_REQUEST", $"format takes {string.Join(", ", LedgerFormat.Formats)}");
            DateTimeOffset? from;
            try
            {
                from = LedgerFormat.Since(since, time.GetUtcNow());
            }
            catch (FormatException e)
            {
                throw RegistryError.BadRequest("BAD_REQUEST", e.Message);
            }
            var text = LedgerFormat.Render(await ledger.ReadAsync(from, 100_000, ct), f);
            return Results.Text(text, f switch { "json" => "application/json", "csv" => "text/csv", _ => "text/plain" });
        });
        admin.MapPost("/gc", async (GarbageCollector gc, CancellationToken ct) => Results.Json(await gc.RunAsync(null, ct)));
        admin.MapGet("/availability", async (string? outcome, AvailabilityChecker checker, RegistryOptions options, CancellationToken ct) =>
        {
            RequireAvailability(options);
            await checker.FlushPullsAsync(ct);
            return Results.Json(AvailabilityReport(await checker.PulledAsync(ct), outcome, options));
        });
        admin.MapPost("/availability/check", async (AvailabilityChecker checker, RegistryOptions options, CancellationToken ct) =>
        {
            RequireAvailability(options);
            var round = await checker.RunAsync(ct);
            return Results.Json(new { @checked = round.Checked, outcomes = round.Outcomes, report = AvailabilityReport(round.Images, null, options) });
        });
    }

    private static void RequireAvailability(RegistryOptions options)
    {
        if (!options.Availability.Enabled)
            throw new RegistryError(409, "UNSUPPORTED", "the availability check is off; set Registry:Availability:Enabled=true (pulls are recorded from then on)");
    }

    /// <summary>The tags pulled in the window, those that could not be pulled upstream first: what only the cache holds.</summary>
    private static object AvailabilityReport(IReadOnlyList<PulledTag> images, string? outcome, RegistryOptions options)
    {
        static string Of(PulledTag i) => i.Check?.Outcome ?? AvailabilityChecker.Unchecked;
        return new
        {
            window = options.Availability.Window,
            total = images.Count,
            onlyInCache = images.Count(i => i.OnlyInCache),
            images = images.Where(i => outcome is null || Of(i) == outcome).OrderByDescending(i => i.OnlyInCache).ThenBy(i => i.Repository, StringComparer.Ordinal).ThenBy(i => i.Tag, StringComparer.Ordinal)
                .Select(i => new { image = $"{i.Repository}:{i.Tag}", i.Repository, i.Tag, i.LastPulled, outcome = Of(i), checkedAt = i.Check?.CheckedAt, detail = i.Check?.Detail }),
        };
    }

    /// <summary>
    /// Checks the admin token before routing, binding or reading a body; then bounds the body. A body
    /// past the bound is refused here in the registry's error format (the JSON binding would answer
    /// an empty 413): announced ones before they are read, chunked ones as they pass the bound.
    /// </summary>
    public static async Task GateAsync(HttpContext ctx, RequestDelegate next, AdminOptions admin)
    {
        if (string.IsNullOrEmpty(admin.Token))
            throw new RegistryError(404, "NOT_FOUND", "the admin API is off: set Registry:Admin:Token");
        DemandToken(ctx, admin.Token, "admin API: missing or wrong bearer token");
        if (ctx.Request.ContentLength > MaxBodyBytes) throw TooLarge();
        if (ctx.Request.ContentLength is not null)
        {
            if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBodyBytes;
        }
        else if (ctx.Request.Headers.TransferEncoding.Count > 0)
        {
            // Bounded by the buffer, not by Kestrel's body limit: a body stopped by that limit is left
            // unreadable, the connection is reset with the rest unread, and the client can lose the 413.
            ctx.Request.EnableBuffering(bufferThreshold: (int)MaxBodyBytes, bufferLimit: MaxBodyBytes);
            try
            {
                await ctx.Request.Body.CopyToAsync(Stream.Null, ctx.RequestAborted);
            }
            catch (IOException)
            {
                throw TooLarge();
            }
            ctx.Request.Body.Position = 0;
        }
        await next(ctx);
    }

    private static RegistryError TooLarge() =>
        new(413, "SIZE_INVALID", $"admin API: a request body is at most {MaxBodyBytes / 1024} KiB");

    // "Bearer <token>", the scheme in any case (RFC 9110), the token compared in constant time.
    /// <summary>401 with the admin realm's Bearer challenge unless the request carries the admin token.</summary>
    public static void DemandToken(HttpContext ctx, string token, string refusal)
    {
        if (Authorized(ctx.Request.Headers.Authorization.ToString(), token)) return;
        throw new RegistryError(401, "UNAUTHORIZED", refusal) { Challenge = "Bearer realm=\"cacheregistry-admin\"" };
    }

    private static bool Authorized(string header, string token)
    {
        var space = header.IndexOf(' ');
        if (space < 0 || !header[..space].Equals("Bearer", StringComparison.OrdinalIgnoreCase)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[(space + 1)..].Trim()), Encoding.UTF8.GetBytes(token));
    }

    private static ImageReference Image(string text)
    {
        try
        {
            return ImageReference.Parse(text);
        }
        catch (FormatException e)
        {
            throw RegistryError.BadRequest("NAME_INVALID", e.Message);
        }
    }
}

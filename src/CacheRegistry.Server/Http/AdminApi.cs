using System.Security.Cryptography;
using System.Text;
using CacheRegistry.Maintenance;
using CacheRegistry.Oci;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Http;

/// <summary>
/// /admin: stats, repositories and tags, purge, warm, ledger, gc. Every call needs
/// <c>Authorization: Bearer &lt;Registry:Admin:Token&gt;</c>; without a configured token the API is off.
/// </summary>
public static class AdminApi
{
    public sealed record WarmRequest(string[] Images, string? Platform);

    public static void MapAdmin(this WebApplication app, RegistryOptions options)
    {
        var admin = app.MapGroup("/admin").AddEndpointFilter(async (ctx, next) =>
        {
            var configured = options.Admin.Token;
            if (string.IsNullOrEmpty(configured))
                return Results.Problem("the admin API is off: set Registry:Admin:Token", statusCode: 404);
            var given = ctx.HttpContext.Request.Headers.Authorization.ToString();
            var expected = "Bearer " + configured;
            if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected)))
            {
                ctx.HttpContext.Response.Headers.WWWAuthenticate = "Bearer realm=\"cacheregistry-admin\"";
                return Results.Problem("admin API: missing or wrong bearer token", statusCode: 401);
            }
            return await next(ctx);
        });

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
        admin.MapPost("/purge", async (string image, Purger purger, CancellationToken ct) =>
        {
            var reference = ImageReference.Parse(image);
            var purged = await purger.PurgeAsync(reference, ct);
            return purged == 0 ? Results.NotFound(new { image = reference.ToString(), purged }) : Results.Ok(new { image = reference.ToString(), purged });
        });
        admin.MapPost("/warm", (WarmRequest request, WarmJobs jobs) =>
        {
            var images = request.Images.Select(ImageReference.Parse).ToList();
            var job = jobs.Start(images, request.Platform);
            return Results.Accepted($"/admin/warm/{job.Id}", new { id = job.Id, images = job.Images });
        });
        admin.MapGet("/warm/{id}", (string id, WarmJobs jobs) => jobs.Find(id) is { } job
            ? Results.Json(new { id, state = job.State, images = job.Images, results = job.Results, progress = job.Progress.TakeLast(50) })
            : Results.NotFound());
        admin.MapGet("/ledger", async (string? format, DateTimeOffset? since, ILedger ledger, CancellationToken ct) =>
        {
            var f = format ?? "json";
            if (!LedgerFormat.Formats.Contains(f)) return Results.BadRequest($"format takes {string.Join(", ", LedgerFormat.Formats)}");
            var text = LedgerFormat.Render(await ledger.ReadAsync(since, 100_000, ct), f);
            return Results.Text(text, f switch { "json" => "application/json", "csv" => "text/csv", _ => "text/plain" });
        });
        admin.MapPost("/gc", async (GarbageCollector gc, CancellationToken ct) => Results.Json(await gc.RunAsync(null, ct)));
    }
}

using CacheRegistry.Cache;
using CacheRegistry.Maintenance;
using CacheRegistry.Oci;
using CacheRegistry.Server.Http;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Options;

namespace CacheRegistry.Server.Dashboard;

/// <summary>
/// /ui: one page (HTML, CSS and JS built into the binary) that polls /ui/api/overview. The page
/// holds no data; the overview answers loopback clients, and others only with the admin token.
/// </summary>
internal static class DashboardEndpoints
{
    private static readonly string[] Assets = ["index.html", "dashboard.js", "dashboard.css"];

    public static void MapDashboard(this WebApplication app)
    {
        if (!app.Services.GetRequiredService<IOptions<UiOptions>>().Value.Enabled) return;
        var (admin, limits) = (app.Services.GetRequiredService<IOptions<AdminOptions>>().Value, app.Services.GetRequiredService<IOptions<LimitsOptions>>().Value);
        var ui = app.MapGroup("/ui").AddEndpointFilter((context, next) =>
        {
            // Only its own script and style, never framed: the page shows what upstreams and clients named.
            var headers = context.HttpContext.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
            headers.XFrameOptions = "DENY";
            headers.CacheControl = "no-store";
            return next(context);
        });
        ui.MapGet("", () => Asset("index.html"));
        ui.MapGet("/{file}", (string file) => Assets.Contains(file) ? Asset(file) : Results.NotFound());
        ui.MapGet("/api/overview", OverviewAsync).AddEndpointFilter(async (context, next) =>
        {
            Gate(context.HttpContext, admin, limits);
            return await next(context);
        });
    }

    /// <summary>Loopback clients are the operator on the machine itself; everyone else shows the admin token.</summary>
    public static void Gate(HttpContext ctx, AdminOptions admin, LimitsOptions limits)
    {
        if (ctx.IsFromLoopback(limits)) return;
        if (string.IsNullOrEmpty(admin.Token))
            throw new RegistryError(403, "DENIED", "the dashboard's data is served to loopback clients only unless Registry:Admin:Token is set");
        AdminApi.DemandToken(ctx, admin.Token, "dashboard: enter the admin token (Registry:Admin:Token)");
    }

    private static async Task<IResult> OverviewAsync(DashboardActivity activity, CacheStats stats, IBlobIndex index, RunningFills fills, UpstreamSet upstreams,
        AvailabilityChecker availability, RegistryOptions options, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (fromCache, requests, bytesFromCache, bytesFromUpstream) = stats.Totals();
        (long Count, long Bytes)? stored = null;
        try
        {
            stored = await index.TotalsAsync(ct);
        }
        catch (StoreUnavailableException)
        {
            // Shown as unknown; /readyz names the store.
        }
        IReadOnlyList<PulledTag>? pulled = null;
        if (options.Availability.Enabled)
        {
            try
            {
                pulled = await availability.PulledAsync(ct);
            }
            catch (StoreUnavailableException)
            {
            }
        }
        return Results.Json(new
        {
            now,
            since = stats.Since,
            totals = new { requests, fromCache, hitRatio = requests == 0 ? 0 : Math.Round((double)fromCache / requests, 4), bytesFromCache, bytesFromUpstream },
            // The samples, and now: the chart's last step is the interval running.
            history = activity.Samples().Append(new ActivitySample(now, fromCache, requests, bytesFromCache, bytesFromUpstream)),
            storage = new { blobs = stored?.Count, bytes = stored?.Bytes, limit = options.Cache.MaxSize?.Bytes },
            upstreams = UpstreamStatus.Of(upstreams, now),
            fills = fills.Active.Select(f => new { repository = f.Repository.Key, digest = f.Digest.ToString(), written = f.Written, size = f.ExpectedSize, endpoint = f.Endpoint }),
            topRepositories = activity.TopRepositories(10),
            recentPulls = activity.RecentPulls(),
            availability = pulled is null ? null : new
            {
                total = pulled.Count,
                notPullable = pulled.Where(p => p.OnlyInCache)
                    .Take(50).Select(p => new { image = $"{p.Repository}:{p.Tag}", outcome = p.Check!.Outcome, checkedAt = p.Check.CheckedAt, detail = p.Check.Detail }),
            },
        });
    }

    private static IResult Asset(string file)
    {
        var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("dashboard/" + file)
            ?? throw new InvalidOperationException($"dashboard asset {file} is not built in");
        var type = Path.GetExtension(file) switch { ".html" => "text/html; charset=utf-8", ".js" => "text/javascript; charset=utf-8", _ => "text/css; charset=utf-8" };
        return Results.Stream(stream, type);
    }
}

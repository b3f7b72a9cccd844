using CacheRegistry.Server.Operations;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Http;

/// <summary>The endpoints beside /v2 and /admin: liveness, readiness, upstream status and client configuration.</summary>
internal static class ServiceEndpoints
{
    public static void MapServiceEndpoints(this WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", Readiness.CheckAsync);
        // The store gauges are asked (bounded) just before each scrape; the exporter writes the rest.
        app.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null, configureBranchedPipeline: pipeline => pipeline.Use(async (ctx, next) =>
        {
            await ctx.RequestServices.GetRequiredService<Telemetry.StateGauges>().RefreshAsync(ctx.RequestAborted);
            await next(ctx);
        }), optionsName: null);
        app.MapGet("/status/upstreams", (UpstreamSet upstreams, TimeProvider time) => Results.Json(UpstreamStatus.Of(upstreams, time.GetUtcNow())));
        app.MapGet("/client-config", (string address, bool? https, string? only, string? ca, UpstreamSet upstreams) =>
            only is not null && !ClientConfig.Sections.Contains(only)
                ? Results.BadRequest($"only= takes one of {string.Join(", ", ClientConfig.Sections)}\n")
                : Results.Text(ClientConfig.Render(address, https ?? false, upstreams, only, ca)));
    }
}

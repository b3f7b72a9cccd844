using CacheRegistry.Storage;
using Microsoft.Extensions.Options;

namespace CacheRegistry.Server.Http;

/// <summary>
/// /readyz: whether this process should be sent pulls. A store that is down does not stop pulls
/// (they are served from the upstream, verified, unstored), so it is 200 "ready, degraded" naming
/// the store. Draining at shutdown, Kestrel takes no new connections (so a probe fails) and a
/// request on a connection it still serves gets 503, so a load balancer stops sending clients. With
/// <c>?strict</c> a store that is down is 503 too (for scripts that wait for the whole stack).
/// </summary>
internal static class Readiness
{
    public static async Task<IResult> CheckAsync(IEnumerable<IHealthProbe> probes, IHostApplicationLifetime life, Auth.ClientAuthGate gate, Auth.AccessPolicy access, IOptions<LimitsOptions> limits, TimeProvider time, HttpContext ctx, CancellationToken ct)
    {
        if (life.ApplicationStopping.IsCancellationRequested) return Results.Text("not ready: draining, shutting down\n", statusCode: 503);
        var strict = ctx.Request.Query.ContainsKey("strict");
        // Below the chart's probe timeout (3 s); a store that has not answered by then counts as down.
        using var timeout = new Common.Deadline(TimeSpan.FromSeconds(2), time, ct);
        var results = await Task.WhenAll(probes.Select(async p => (p.Name, Problem: await p.ProblemAsync(timeout.Token))));
        var failing = results.Where(r => r.Problem is not null).Select(r => $"{r.Name}: {r.Problem}").ToList();
        if (failing.Count == 0) return Results.Text("ready\n");
        // With client authentication on, only a user (or a loopback prober) reads which store failed and why.
        var detailed = !access.IsOn || ctx.IsFromLoopback(limits.Value)
            || await gate.TryUserAsync(ctx) is { } user && user != Auth.ClientAuthenticator.Anonymous;
        var detail = detailed ? ": " + string.Join("; ", failing) : "";
        return strict
            ? Results.Text($"not ready{detail}\n", statusCode: 503)
            : Results.Text($"ready, degraded (pulls are served from the upstream){detail}\n");
    }
}

using CacheRegistry.Storage;

namespace CacheRegistry.Server.Http;

/// <summary>/readyz: 200 when every store answers, 503 naming the ones that do not.</summary>
internal static class Readiness
{
    public static async Task<IResult> CheckAsync(IEnumerable<IHealthProbe> probes, Auth.ClientAuthGate gate, Auth.AccessPolicy access, HttpContext ctx, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var results = await Task.WhenAll(probes.Select(async p => (p.Name, Problem: await p.ProblemAsync(timeout.Token))));
        var failing = results.Where(r => r.Problem is not null).Select(r => $"{r.Name}: {r.Problem}").ToList();
        if (failing.Count == 0) return Results.Text("ready\n");
        // With client authentication on, only a user (or a loopback prober) reads which store failed and why.
        var detailed = !access.IsOn || ctx.IsFromLoopback()
            || await gate.TryUserAsync(ctx) is { } user && user != Auth.ClientAuthenticator.Anonymous;
        return Results.Text(detailed ? "not ready: " + string.Join("; ", failing) + "\n" : "not ready\n", statusCode: 503);
    }
}

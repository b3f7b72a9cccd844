using CacheRegistry.Storage;

namespace CacheRegistry.Server.Http;

/// <summary>/readyz: 200 when every store answers, 503 naming the ones that do not.</summary>
internal static class Readiness
{
    public static async Task<IResult> CheckAsync(IEnumerable<IHealthProbe> probes, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var results = await Task.WhenAll(probes.Select(async p => (p.Name, Problem: await p.ProblemAsync(timeout.Token))));
        var failing = results.Where(r => r.Problem is not null).Select(r => $"{r.Name}: {r.Problem}").ToList();
        return failing.Count == 0
            ? Results.Text("ready\n")
            : Results.Text("not ready: " + string.Join("; ", failing) + "\n", statusCode: 503);
    }
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A service on a private address (10.99.0.1, added to the loopback interface for the test, as
/// root can): what an SSRF through the cache would reach — it answers like a cloud metadata
/// service and records every request.
/// </summary>
public sealed class InternalService : IAsyncDisposable
{
    public const string Address = "10.99.0.1";
    private readonly WebApplication _app;

    private InternalService(WebApplication app) => _app = app;

    public ConcurrentQueue<string> Requests { get; } = new();
    public string Url { get; private set; } = "";

    public static async Task<InternalService> StartAsync()
    {
        var add = await ProcessRunner.RunAsync(ProcessRunner.Require("ip"), ["addr", "add", Address + "/32", "dev", "lo"]);
        if (add.ExitCode != 0 && !add.Output.Contains("File exists", StringComparison.Ordinal))
            throw new InvalidOperationException("cannot add a private address to lo (the suite runs as root in CI): " + add.Output);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://{Address}:0");
        builder.Logging.ClearProviders();
        var service = new InternalService(builder.Build());
        service._app.Run(async ctx =>
        {
            service.Requests.Enqueue(ctx.Request.Path);
            await ctx.Response.WriteAsJsonAsync(new { schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json", instanceId = "i-secret", iamRole = "admin" });
        });
        service.Url = await LoopbackApp.StartAsync(service._app);
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        await LoopbackApp.StopAsync(_app);
        await ProcessRunner.RunAsync(ProcessRunner.Require("ip"), ["addr", "del", Address + "/32", "dev", "lo"]);
    }
}

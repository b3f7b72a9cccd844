using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>An upstream that answers every request with one status (429, 503…), counting requests.</summary>
public sealed class StatusServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private StatusServer(int status)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.Run(ctx =>
        {
            Interlocked.Increment(ref _requests);
            ctx.Response.StatusCode = status;
            if (status == 429) ctx.Response.Headers.RetryAfter = "30";
            return Task.CompletedTask;
        });
    }

    public string Url { get; private set; } = "";
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<StatusServer> StartAsync(int status)
    {
        var server = new StatusServer(status);
        await server._app.StartAsync();
        server.Url = server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

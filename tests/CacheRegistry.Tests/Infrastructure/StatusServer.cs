
namespace CacheRegistry.Tests.Infrastructure;

/// <summary>An upstream that answers every request with one status (429, 503…), counting requests.</summary>
public sealed class StatusServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private StatusServer(int status)
    {
        _app = LoopbackApp.Create();
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
        server.Url = await LoopbackApp.StartAsync(server._app);
        return server;
    }

    public ValueTask DisposeAsync() => LoopbackApp.StopAsync(_app);
}

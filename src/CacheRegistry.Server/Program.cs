using CacheRegistry.Server.Hosting;

// "cacheregistry healthcheck [url]" is the container health check: the runtime image has no curl.
if (args is ["healthcheck", ..])
{
    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
    try
    {
        using var response = await http.GetAsync(args.Length > 1 ? args[1] : "http://127.0.0.1:5000/healthz");
        return response.IsSuccessStatusCode ? 0 : 1;
    }
    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
    {
        await Console.Error.WriteLineAsync("cacheregistry healthcheck: " + e.Message);
        return 1;
    }
}

try
{
    await CacheRegistryApp.Build(args).RunAsync();
    return 0;
}
catch (InvalidOperationException e) when (e.Message.StartsWith("invalid configuration", StringComparison.Ordinal))
{
    await Console.Error.WriteLineAsync("cacheregistry: " + e.Message);
    return 2;
}

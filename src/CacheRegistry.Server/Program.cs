using CacheRegistry.Server.Hosting;

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

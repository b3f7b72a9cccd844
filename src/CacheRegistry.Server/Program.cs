// Durations everywhere as operators write them (30s, 10m, 2d, hh:mm:ss); bare numbers refused.
CacheRegistry.Common.Duration.UseForConfiguration();
return await CacheRegistry.Server.Cli.CommandLine.RunAsync(args);

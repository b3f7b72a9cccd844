return await CacheRegistry.Server.Cli.CommandLine.RunAsync(args);

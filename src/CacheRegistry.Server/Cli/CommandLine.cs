using System.CommandLine;
using CacheRegistry.Server.Hosting;
using CacheRegistry.Server.Operations;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Server.Cli;

/// <summary>
/// <c>cacheregistry [serve] | warm | export | import | ledger | gc | client-config | healthcheck</c>. Every command reads the same
/// configuration as the server (appsettings.json, environment, <c>--Registry:Key=value</c>).
/// Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
/// </summary>
public static class CommandLine
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("CacheRegistry: a pull-through caching container registry. Without a command it serves.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        root.SetAction((parse, ct) => ServeAsync([.. parse.UnmatchedTokens]));

        var serve = new Command("serve", "Run the registry (the default). Takes --urls and any --Registry:Key=value.") { TreatUnmatchedTokensAsErrors = false };
        serve.SetAction((parse, ct) => ServeAsync([.. parse.UnmatchedTokens]));
        root.Subcommands.Add(serve);
        root.Subcommands.Add(OperationCommands.Warm());
        root.Subcommands.Add(OperationCommands.Export());
        root.Subcommands.Add(OperationCommands.Import());
        root.Subcommands.Add(OperationCommands.Ledger());
        root.Subcommands.Add(OperationCommands.Gc());
        root.Subcommands.Add(ClientConfigCommand());
        root.Subcommands.Add(HealthcheckCommand());
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) await Console.Error.WriteLineAsync("cacheregistry: " + error.Message);
            await Console.Error.WriteLineAsync("Run 'cacheregistry --help' or 'cacheregistry <command> --help'.");
            return 2; // bad usage, as distinct from a command that ran and failed (1)
        }
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await Console.Error.WriteLineAsync("cacheregistry: " + e.Message);
            return 2;
        }
    }

    private static async Task<int> ServeAsync(string[] args)
    {
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
    }

    private static Command ClientConfigCommand()
    {
        var address = new Option<string>("--address") { Description = "host:port that clients use to reach the cache", Required = true };
        var https = new Option<bool>("--https") { Description = "the cache is behind TLS (default: plain HTTP, marked insecure)" };
        var only = new Option<string?>("--only") { Description = "one section: docker, containerd, crio or kubeadm" };
        only.AcceptOnlyFromAmong(ClientConfig.Sections);
        var command = new Command("client-config", "Print Docker, containerd, CRI-O/podman and kubeadm configuration for this cache.")
        {
            address, https, only,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse =>
        {
            var options = Configuration.Load([.. parse.UnmatchedTokens]);
            var upstreams = new UpstreamSet(options, TimeProvider.System, NullLoggerFactory.Instance);
            Console.Write(ClientConfig.Render(parse.GetValue(address)!, parse.GetValue(https), upstreams, parse.GetValue(only)));
            return 0;
        });
        return command;
    }

    private static Command HealthcheckCommand()
    {
        var url = new Argument<string>("url") { Description = "health URL", DefaultValueFactory = _ => "http://127.0.0.1:5000/healthz" };
        var command = new Command("healthcheck", "Exit 0 when the server's /healthz answers 200 (container health checks).") { url };
        command.SetAction(async (parse, ct) =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            try
            {
                using var response = await http.GetAsync(parse.GetValue(url), ct);
                return response.IsSuccessStatusCode ? 0 : 1;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                await Console.Error.WriteLineAsync("cacheregistry healthcheck: " + e.Message);
                return 1;
            }
        });
        return command;
    }
}

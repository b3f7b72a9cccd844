using System.CommandLine;
using CacheRegistry.Server.Hosting;
using CacheRegistry.Server.Operations;
using CacheRegistry.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Server.Cli;

/// <summary>
/// <c>cacheregistry [serve] | warm | export | import | ledger | gc | client-config | healthcheck</c>. Every command reads the same
/// configuration as the server (appsettings.json, environment, <c>--Registry:Key=value</c>).
/// Exit codes: 0 success, 1 failure, 2 bad usage or configuration. Every failure is one line.
/// </summary>
internal static class CommandLine
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("CacheRegistry: a pull-through caching container registry. Without a command it serves.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        var rootUrls = UrlsOption();
        root.Options.Add(rootUrls);
        root.SetAction((parse, ct) => ServeAsync(parse, rootUrls));
        root.Subcommands.Add(ServeCommand());
        root.Subcommands.Add(OperationCommands.Warm());
        root.Subcommands.Add(OperationCommands.Export());
        root.Subcommands.Add(OperationCommands.Import());
        root.Subcommands.Add(OperationCommands.Ledger());
        root.Subcommands.Add(OperationCommands.Gc());
        root.Subcommands.Add(ClientConfigCommand());
        root.Subcommands.Add(HealthcheckCommand());

        // A word that is no command is a mistake, not configuration for the server.
        if (args is [var first, ..] && !first.StartsWith('-') && root.Subcommands.All(c => c.Name != first))
            return Fail(2, "", $"unknown command '{first}'{Suggest(first, root)}. Commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}; see 'cacheregistry --help'.");

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) await Console.Error.WriteLineAsync("cacheregistry: " + error.Message);
            await Console.Error.WriteLineAsync("Run 'cacheregistry --help' or 'cacheregistry <command> --help'.");
            return 2;
        }
        var command = parsed.CommandResult.Command == root ? "" : " " + parsed.CommandResult.Command.Name;
        try
        {
            // SIGTERM belongs to the host, which drains fills for up to Timeouts:Shutdown; System.CommandLine's
            // own handler (2.0.x) would end the process with 143 after its 2 s instead.
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (ConfigurationException e)
        {
            foreach (var problem in e.Problems) await Console.Error.WriteLineAsync($"cacheregistry{command}: configuration: {problem}");
            return 2;
        }
        catch (Exception e) when (e is UsageException or ArgumentException or FormatException)
        {
            return Fail(2, command, e.Message);
        }
        catch (OperationCanceledException)
        {
            return Fail(1, command, "cancelled");
        }
        #pragma warning disable CA1031 // the last resort: one line and exit 1 instead of a stack trace
        catch (Exception e)
        {
            // One line, no stack trace: what failed and why.
            return Fail(1, command, Describe(e));
        }
        #pragma warning restore CA1031
    }

    private static int Fail(int code, string command, string message)
    {
        Console.Error.WriteLine($"cacheregistry{command}: {message}");
        return code;
    }

    private static string Describe(Exception e) => e switch
    {
        HttpRequestException h => $"cannot reach the server: {h.Message}{(h.InnerException is { } i ? $" ({i.Message})" : "")}",
        _ => e.Message,
    };

    private static string Suggest(string word, RootCommand root) =>
        Spelling.Closest(word, root.Subcommands.Select(c => c.Name)) is { } closest ? $" (did you mean '{closest}'?)" : "";

    private static Option<string?> UrlsOption() => new("--urls") { Description = $"where to listen (default {CacheRegistryApp.DefaultUrl}); several separated by ';'" };

    private static Command ServeCommand()
    {
        var urls = UrlsOption();
        var serve = new Command("serve", "Run the registry (the default). Any configuration key can follow as --Registry:Key=value " +
            "(--Registry:DataDir=/var/lib/cacheregistry, --Registry:Upstreams:docker.io:Endpoints:0=https://mirror.example); the README lists them all.")
        {
            urls,
        };
        serve.TreatUnmatchedTokensAsErrors = false;
        serve.SetAction((parse, ct) => ServeAsync(parse, urls));
        return serve;
    }

    private static async Task<int> ServeAsync(ParseResult parse, Option<string?> urls)
    {
        string[] args = [.. parse.UnmatchedTokens, .. parse.GetValue(urls) is { } u ? new[] { "--urls=" + u } : []];
        var app = CacheRegistryApp.Build(args);
        try
        {
            await app.RunAsync();
            return 0;
        }
        catch (IOException e) when (e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase) || e.InnerException is System.Net.Sockets.SocketException)
        {
            throw new IOException($"cannot listen: {e.Message.TrimEnd('.')}; choose another port with --urls", e);
        }
    }

    private static Command ClientConfigCommand()
    {
        var address = new Option<string>("--address") { Description = "host:port that clients use to reach the cache", Required = true };
        var https = new Option<bool>("--https") { Description = "the cache is behind TLS (default: plain HTTP, marked insecure)" };
        var only = new Option<string?>("--only") { Description = "one section: docker, containerd, crio or kubeadm" };
        only.AcceptOnlyFromAmong(ClientConfig.Sections);
        var ca = new Option<string?>("--ca") { Description = "with --https: where nodes keep the CA that signed the cache's certificate (containerd's ca)" };
        var install = new Option<string?>("--install")
        {
            Description = "write the containerd hosts.toml files into this certs.d folder, stay until stopped, then take back exactly what was written (the chart's node DaemonSet)",
        };
        var command = new Command("client-config", "Print Docker, containerd, CRI-O/podman and kubeadm configuration for this cache.")
        {
            address, https, only, ca, install,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var options = Configuration.Load([.. parse.UnmatchedTokens]);
            using var upstreams = new UpstreamSet(options, TimeProvider.System, NullLoggerFactory.Instance);
            if (parse.GetValue(install) is { } folder)
                return await InstallHostsAsync(folder, ClientConfig.HostsFiles(parse.GetValue(address)!, parse.GetValue(https), upstreams, parse.GetValue(ca)), ct);
            Console.Write(ClientConfig.Render(parse.GetValue(address)!, parse.GetValue(https), upstreams, parse.GetValue(only), parse.GetValue(ca)));
            return 0;
        });
        return command;
    }

    private static async Task<int> InstallHostsAsync(string folder, IReadOnlyList<(string Host, string Content)> files, CancellationToken ct)
    {
        if (!Directory.Exists(folder)) throw new UsageException($"{folder} does not exist: mount the node's containerd certs.d folder there");
        var installer = new HostsInstaller(folder);
        installer.Install(files);
        foreach (var path in installer.Written) Console.WriteLine($"wrote {path}");
        Console.WriteLine($"{files.Count} registries point at the cache; waiting for the signal to take them back");
        // SIGTERM (the pod stopping) and SIGINT end the wait instead of the process.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Stop);
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Stop);
        void Stop(System.Runtime.InteropServices.PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
        foreach (var path in installer.Remove()) Console.WriteLine($"took back {path}");
        return 0;
    }

    /// <summary>The server's own listen address as a container sees it: wildcard hosts become loopback.</summary>
    internal static string DefaultHealthUrl(string? urls)
    {
        var first = urls?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is null) return "http://127.0.0.1:5000/healthz";
        var local = System.Text.RegularExpressions.Regex.Replace(first, @"://(\*|\+|0\.0\.0\.0|\[::\])", "://127.0.0.1");
        return local.TrimEnd('/') + "/healthz";
    }

    /// <summary>
    /// The addresses the container's server (PID 1, when that is cacheregistry) was told to listen
    /// on: its <c>--urls</c> argument, else its <c>ASPNETCORE_URLS</c>. A health check runs as a
    /// separate process that sees neither, so an image started with <c>--urls</c> would otherwise
    /// be asked on the image's default port and reported unhealthy. Null when it cannot tell.
    /// </summary>
    internal static string? ContainerServerUrls(string process = "/proc/1")
    {
        try
        {
            var args = File.ReadAllText(Path.Combine(process, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            if (args.Length == 0 || !Path.GetFileName(args[0]).Equals("cacheregistry", StringComparison.Ordinal)) return null;
            for (var i = 1; i < args.Length; i++)
            {
                if (args[i].StartsWith("--urls=", StringComparison.Ordinal)) return args[i]["--urls=".Length..];
                if (args[i] == "--urls" && i + 1 < args.Length) return args[i + 1];
            }
            const string Variable = "ASPNETCORE_URLS=";
            return File.ReadAllText(Path.Combine(process, "environ")).Split('\0').FirstOrDefault(e => e.StartsWith(Variable, StringComparison.Ordinal))?[Variable.Length..];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Command HealthcheckCommand()
    {
        var url = new Argument<string>("url")
        {
            Description = "health URL (default: /healthz on the first address the container's server listens on: its --urls, "
                + "else its ASPNETCORE_URLS, else http://127.0.0.1:5000)",
            DefaultValueFactory = _ => DefaultHealthUrl(ContainerServerUrls() ?? Environment.GetEnvironmentVariable("ASPNETCORE_URLS")),
        };
        var command = new Command("healthcheck", "Exit 0 when the server's /healthz answers 200 (container health checks), 1 otherwise.") { url };
        command.SetAction(async (parse, ct) =>
        {
            var target = parse.GetValue(url)!;
            if (!Uri.TryCreate(target, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new UsageException($"'{target}' is not an http(s) URL");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            try
            {
                using var response = await http.GetAsync(uri, ct);
                if (response.IsSuccessStatusCode) return 0;
                await Console.Error.WriteLineAsync($"cacheregistry healthcheck: {uri} answered {(int)response.StatusCode}");
                return 1;
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

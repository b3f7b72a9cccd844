using System.CommandLine;
using CacheRegistry.Maintenance;
using CacheRegistry.Oci;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Cli;

/// <summary>
/// warm, export, import, ledger and gc. Progress goes to stderr, results to stdout. Failures are
/// thrown and reported by <see cref="CommandLine"/> as one line with the exit code.
/// </summary>
internal static class OperationCommands
{
    private static Option<string> ServerOption() => new("--server")
    {
        Description = "the cache to pull through", DefaultValueFactory = _ => "http://127.0.0.1:5000",
    };

    /// <summary>The cache's login (Registry:Auth), as skopeo spells it; for scripts, a file or the environment instead of the command line.</summary>
    private static (Option<string?> Creds, Option<FileInfo?> File) CredsOptions() =>
    (
        new("--creds") { Description = $"USER:PASSWORD of the cache's login, when it has one (or the {CredsVariable} environment variable)" },
        new("--creds-file") { Description = "a file holding USER:PASSWORD on its first line (kept out of the process list and shell history)" }
    );

    private const string CredsVariable = "CACHEREGISTRY_CREDS";

    /// <summary>A client for the cache that sends the login given, if any.</summary>
    private static HttpClient CacheClient(ParseResult parse, (Option<string?> Creds, Option<FileInfo?> File) options)
    {
        var creds = parse.GetValue(options.Creds);
        if (parse.GetValue(options.File) is { } file)
        {
            if (!file.Exists) throw new UsageException($"--creds-file {file.FullName}: no such file");
            creds = File.ReadLines(file.FullName).FirstOrDefault()?.Trim();
        }
        creds ??= Environment.GetEnvironmentVariable(CredsVariable);
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        if (string.IsNullOrEmpty(creds)) return http;
        if (!creds.Contains(':', StringComparison.Ordinal))
        {
            http.Dispose();
            throw new UsageException("--creds: expected USER:PASSWORD");
        }
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(creds)));
        return http;
    }

    private static Option<string?> PlatformOption() => new("--platform") { Description = "only this platform, e.g. linux/amd64 (default: all)" };

    private static Option<bool> NoReferrersOption() => new("--no-referrers")
    {
        Description = "leave out signatures, attestations and SBOMs (the referrers and cosign tags of each image)",
    };

    private static Option<FileInfo?> ListOption() => new("--file", "-f") { Description = "image references, one per line (kubeadm config images list works as is); - for stdin" };

    private static Argument<string[]> ImagesArgument() => new("images") { Description = "image references", Arity = ArgumentArity.ZeroOrMore };

    private static List<ImageReference> Images(ParseResult parse, Argument<string[]> images, Option<FileInfo?> file)
    {
        var list = new List<string>(parse.GetValue(images) ?? []);
        if (parse.GetValue(file) is { } f)
        {
            if (f.Name != "-" && !f.Exists) throw new UsageException($"--file {f.FullName}: no such file");
            using var reader = f.Name == "-" ? Console.In : f.OpenText();
            list.AddRange(Warmer.ReadList(reader));
        }
        if (list.Count == 0) throw new UsageException("no images given: name them or pass --file");
        // A misspelt option lands among the images (--plaform): say so rather than "not a valid repository name".
        if (list.FirstOrDefault(i => i.StartsWith('-')) is { } option)
        {
            var known = parse.CommandResult.Command.Options.SelectMany(o => o.Aliases.Append(o.Name));
            throw new UsageException($"unknown option '{option}'" + (Hosting.Spelling.Closest(option, known) is { } meant ? $" (did you mean '{meant}'?)" : ""));
        }
        return list.Select(ImageReference.Parse).ToList();
    }

    private static Uri ServerUrl(ParseResult parse, Option<string> server)
    {
        var text = parse.GetValue(server)!;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri : throw new UsageException($"--server {text}: expected the cache's http(s) URL");
    }

    public static Command Warm()
    {
        var server = ServerOption();
        var platform = PlatformOption();
        var file = ListOption();
        var images = ImagesArgument();
        var noReferrers = NoReferrersOption();
        var creds = CredsOptions();
        var command = new Command("warm", "Pull images through a running cache so later pulls are hits.") { images, file, platform, noReferrers, server, creds.Creds, creds.File };
        command.SetAction(async (parse, ct) =>
        {
            var refs = Images(parse, images, file);
            using var http = CacheClient(parse, creds);
            var warmer = new Warmer(new ImageWalker(http, ServerUrl(parse, server)) { Referrers = !parse.GetValue(noReferrers) });
            var results = new List<WarmResult>();
            for (var i = 0; i < refs.Count; i++)
            {
                await Console.Error.WriteLineAsync($"[{i + 1}/{refs.Count}] {refs[i]}");
                var r = await warmer.WarmAsync(refs[i], parse.GetValue(platform), m => Console.Error.WriteLine("  " + m), ct);
                results.Add(r);
                await Console.Error.WriteLineAsync(r.Ok ? $"  done: {ByteSize.Format(r.Bytes)} in {r.Elapsed.TotalSeconds:F1} s" : $"  FAILED: {r.Error}");
            }
            foreach (var r in results)
                Console.WriteLine($"{(r.Ok ? "ok    " : "FAILED")}  {r.Image}  manifests={r.Manifests} blobs={r.Blobs} bytes={r.Bytes} seconds={r.Elapsed.TotalSeconds:F1}{(r.Ok ? "" : "  " + r.Error)}");
            Console.WriteLine($"{results.Count(r => r.Ok)} of {results.Count} images warmed, {ByteSize.Format(results.Sum(r => r.Bytes))}");
            return results.All(r => r.Ok) ? 0 : 1;
        });
        return command;
    }

    public static Command Export()
    {
        var server = ServerOption();
        var platform = PlatformOption();
        var file = ListOption();
        var images = ImagesArgument();
        var output = new Option<FileInfo>("--out", "-o") { Description = "the OCI layout tar to write", Required = true };
        var noReferrers = NoReferrersOption();
        var creds = CredsOptions();
        var command = new Command("export", "Write images, pulled through a running cache, as one OCI image layout tar for an air-gapped site.")
        {
            images, file, output, platform, noReferrers, server, creds.Creds, creds.File,
        };
        command.SetAction(async (parse, ct) =>
        {
            var refs = Images(parse, images, file);
            var target = parse.GetValue(output)!;
            if (target.Directory is { Exists: false } dir) throw new UsageException($"--out {target.FullName}: directory {dir.FullName} does not exist");
            var partial = target.FullName + ".partial";
            using var http = CacheClient(parse, creds);
            try
            {
                await using (var stream = File.Create(partial))
                {
                    var (count, blobs, bytes) = await new Exporter(new ImageWalker(http, ServerUrl(parse, server)) { Referrers = !parse.GetValue(noReferrers) })
                        .ExportAsync(refs, parse.GetValue(platform), stream, m => Console.Error.WriteLine(m), ct);
                    Console.WriteLine($"exported {count} images, {blobs} blobs, {ByteSize.Format(bytes)} to {target.FullName}");
                }
                File.Move(partial, target.FullName, overwrite: true);
                return 0;
            }
            finally
            {
                File.Delete(partial);
            }
        });
        return command;
    }

    public static Command Import()
    {
        var bundle = new Argument<FileInfo>("bundle") { Description = "an OCI image layout tar (from 'cacheregistry export' or skopeo)" };
        var allowPartial = new Option<bool>("--allow-partial") { Description = "import a bundle that misses blobs (a warning for each); refused otherwise" };
        var force = new Option<bool>("--force") { Description = "move tags that already point at another digest (reported and left otherwise)" };
        var create = new Option<bool>("--create") { Description = "start an empty cache in the data dir if there is none" };
        var command = new Command("import", "Load an OCI layout tar into this cache's stores, verifying every digest.") { bundle, allowPartial, force, create };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var file = parse.GetValue(bundle)!;
            if (!file.Exists) throw new UsageException($"{file.FullName}: no such file{(Directory.Exists(file.FullName) ? " (it is a directory; give the bundle's .tar)" : "")}");
            await using var services = CliServices.Build([.. parse.UnmatchedTokens], create: parse.GetValue(create), createsOnRequest: true);
            await using var stream = file.OpenRead();
            var result = await services.GetRequiredService<BundleImporter>().ImportAsync(stream, file.Name,
                new ImportOptions(parse.GetValue(allowPartial), parse.GetValue(force)), m => Console.Error.WriteLine(m), ct);
            Console.WriteLine($"imported {result.Images} images: {result.Manifests} manifests, {result.Blobs} blobs, {ByteSize.Format(result.Bytes)}" +
                (result.Missing.Count > 0 ? $"; {result.Missing.Count} blobs missing" : ""));
            if (result.TagsNotMoved.Count == 0) return 0;
            await Console.Error.WriteLineAsync($"cacheregistry import: {result.TagsNotMoved.Count} tags point elsewhere and were not moved ({string.Join(", ", result.TagsNotMoved)}); --force moves them");
            return 1;
        });
        return command;
    }

    public static Command Ledger()
    {
        var format = new Option<string>("--format") { Description = "table, csv or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong(LedgerFormat.Formats);
        var since = new Option<string?>("--since") { Description = "only entries from then on: a date (2026-01-01, 2026-01-01T12:00:00Z) or an age (24h, 7d)" };
        var limit = new Option<int>("--limit") { Description = "at most this many entries", DefaultValueFactory = _ => 100_000 };
        var command = new Command("ledger", "List every image that entered the cache: upstream, repository, tag, digest, size, time, endpoint.")
        {
            format, since, limit,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var from = LedgerFormat.Since(parse.GetValue(since), TimeProvider.System.GetUtcNow());
            await using var services = CliServices.Build([.. parse.UnmatchedTokens]);
            var entries = await services.GetRequiredService<ILedger>().ReadAsync(from, parse.GetValue(limit), ct);
            Console.Write(LedgerFormat.Render(entries, parse.GetValue(format)!));
            return 0;
        });
        return command;
    }

    public static Command Gc()
    {
        var command = new Command("gc", "Remove blobs that no cached manifest references, and orphan spool files. Safe while the server runs.");
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            await using var services = CliServices.Build([.. parse.UnmatchedTokens]);
            var result = await services.GetRequiredService<GarbageCollector>().RunAsync(new InlineProgress<string>(Console.Error.WriteLine), ct);
            Console.WriteLine($"gc: {result.BlobsRemoved} of {result.BlobsSeen} blobs removed ({ByteSize.Format(result.BytesRemoved)}), {result.SpoolFilesRemoved} spool files");
            return 0;
        });
        return command;
    }
}

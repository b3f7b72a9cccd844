using System.CommandLine;
using CacheRegistry.Maintenance;
using CacheRegistry.Oci;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Cli;

/// <summary>warm, export, import, ledger and gc. Progress goes to stderr, results to stdout.</summary>
public static class OperationCommands
{
    private static Option<string> ServerOption() => new("--server")
    {
        Description = "the cache to pull through", DefaultValueFactory = _ => "http://127.0.0.1:5000",
    };

    private static Option<string?> PlatformOption() => new("--platform") { Description = "only this platform, e.g. linux/amd64 (default: all)" };

    private static Option<FileInfo?> ListOption() => new("--file", "-f") { Description = "image references, one per line (kubeadm config images list works as is)" };

    private static Argument<string[]> ImagesArgument() => new("images") { Description = "image references", Arity = ArgumentArity.ZeroOrMore };

    private static IReadOnlyList<ImageReference> Images(ParseResult parse, Argument<string[]> images, Option<FileInfo?> file)
    {
        var list = new List<string>(parse.GetValue(images) ?? []);
        if (parse.GetValue(file) is { } f)
        {
            using var reader = f.Name == "-" ? Console.In : f.OpenText();
            list.AddRange(Warmer.ReadList(reader));
        }
        if (list.Count == 0) throw new ArgumentException("no images given: name them or pass --file");
        return list.Select(ImageReference.Parse).ToList();
    }

    public static Command Warm()
    {
        var server = ServerOption();
        var platform = PlatformOption();
        var file = ListOption();
        var images = ImagesArgument();
        var command = new Command("warm", "Pull images through a running cache so later pulls are hits.") { images, file, platform, server };
        command.SetAction(async (parse, ct) =>
        {
            var refs = Images(parse, images, file);
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var warmer = new Warmer(new ImageWalker(http, new Uri(parse.GetValue(server)!)));
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
        var command = new Command("export", "Write images, pulled through a running cache, as one OCI image layout tar for an air-gapped site.")
        {
            images, file, output, platform, server,
        };
        command.SetAction(async (parse, ct) =>
        {
            var refs = Images(parse, images, file);
            var target = parse.GetValue(output)!;
            var partial = target.FullName + ".partial";
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            try
            {
                await using (var stream = File.Create(partial))
                {
                    var (count, blobs, bytes) = await new Exporter(new ImageWalker(http, new Uri(parse.GetValue(server)!)))
                        .ExportAsync(refs, parse.GetValue(platform), stream, m => Console.Error.WriteLine(m), ct);
                    Console.WriteLine($"exported {count} images, {blobs} blobs, {ByteSize.Format(bytes)} to {target.FullName}");
                }
                File.Move(partial, target.FullName, overwrite: true);
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException)
            {
                File.Delete(partial);
                await Console.Error.WriteLineAsync("cacheregistry export: " + e.Message);
                return 1;
            }
        });
        return command;
    }

    public static Command Import()
    {
        var bundle = new Argument<FileInfo>("bundle") { Description = "an OCI image layout tar (from 'cacheregistry export' or skopeo)" };
        var command = new Command("import", "Load an OCI layout tar into this cache's stores, verifying every digest.") { bundle };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var file = parse.GetValue(bundle)!;
            await using var services = CliServices.Build([.. parse.UnmatchedTokens]);
            try
            {
                await using var stream = file.OpenRead();
                var result = await services.GetRequiredService<BundleImporter>().ImportAsync(stream, file.Name, m => Console.Error.WriteLine(m), ct);
                Console.WriteLine($"imported {result.Images} images: {result.Manifests} manifests, {result.Blobs} blobs, {ByteSize.Format(result.Bytes)}");
                return 0;
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or FormatException or StoreUnavailableException)
            {
                await Console.Error.WriteLineAsync("cacheregistry import: " + e.Message);
                return 1;
            }
        });
        return command;
    }

    public static Command Ledger()
    {
        var format = new Option<string>("--format") { Description = "table, csv or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong(LedgerFormat.Formats);
        var since = new Option<DateTimeOffset?>("--since") { Description = "only entries from this time (ISO 8601)" };
        var limit = new Option<int>("--limit") { Description = "at most this many entries", DefaultValueFactory = _ => 100_000 };
        var command = new Command("ledger", "List every image that entered the cache: upstream, repository, tag, digest, size, time, endpoint.")
        {
            format, since, limit,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            await using var services = CliServices.Build([.. parse.UnmatchedTokens]);
            var entries = await services.GetRequiredService<ILedger>().ReadAsync(parse.GetValue(since), parse.GetValue(limit), ct);
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
            var result = await services.GetRequiredService<GarbageCollector>().RunAsync(new Progress<string>(m => Console.Error.WriteLine(m)), ct);
            Console.WriteLine($"gc: {result.BlobsRemoved} of {result.BlobsSeen} blobs removed ({ByteSize.Format(result.BytesRemoved)}), {result.SpoolFilesRemoved} spool files");
            return 0;
        });
        return command;
    }
}

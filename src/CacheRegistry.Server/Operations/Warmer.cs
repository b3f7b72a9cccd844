using System.Diagnostics;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Operations;

internal sealed record WarmResult(string Image, int Manifests, int Blobs, long Bytes, TimeSpan Elapsed, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>Pulls images through the cache so that later pulls are hits: every platform, or one.</summary>
internal sealed class Warmer(ImageWalker walker)
{
    public async Task<WarmResult> WarmAsync(ImageReference image, string? platform, Action<string>? report, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var content = await walker.ResolveAsync(image, platform, report, ct);
            report?.Invoke($"{image}: {content.Manifests.Count} manifests, {content.Blobs.Count} blobs, {ByteSize.Format(content.Blobs.Sum(b => Math.Max(0, b.Size)))}");
            long bytes = 0;
            var done = 0;
            await Parallel.ForEachAsync(content.Blobs, new ParallelOptions { MaxDegreeOfParallelism = 3, CancellationToken = ct }, async (blob, c) =>
            {
                var n = await walker.CopyBlobAsync(image, blob.Digest, Stream.Null, null, c);
                Interlocked.Add(ref bytes, n);
                var i = Interlocked.Increment(ref done);
                report?.Invoke($"  [{i}/{content.Blobs.Count}] {blob.Digest[..19]}… {ByteSize.Format(n)}");
            });
            return new WarmResult(image.ToString(), content.Manifests.Count, content.Blobs.Count, bytes, Stopwatch.GetElapsedTime(started), null);
        }
        catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return new WarmResult(image.ToString(), 0, 0, 0, Stopwatch.GetElapsedTime(started), e.Message);
        }
    }

    /// <summary>Image references from a list such as <c>kubeadm config images list</c> prints: one per line, # comments.</summary>
    public static IReadOnlyList<string> ReadList(TextReader reader)
    {
        var list = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            var t = line.Split('#', 2)[0].Trim();
            if (t.Length > 0) list.Add(t);
        }
        return list;
    }
}

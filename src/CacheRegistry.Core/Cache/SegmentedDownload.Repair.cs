using CacheRegistry.Upstream;

namespace CacheRegistry.Cache;

// A pooled blob that failed its digest: which endpoint lied, found with the digest as the judge.
internal sealed partial class SegmentedDownload
{
    /// <summary>
    /// Called when the whole blob does not hash to its digest. For each endpoint that sent bytes,
    /// most suspect first, everything it sent is fetched again from the others and written over
    /// its bytes; when the blob then matches, the endpoint whose bytes differed is the culprit:
    /// quarantined, counted and named. Returns the culprit, or null when no combination matched.
    /// </summary>
    /// <param name="repaired">Told each range whose bytes changed (readers that were given them must not finish).</param>
    public async Task<UpstreamEndpoint?> RepairAsync(SpoolSink sink, long total, Action<long, long> repaired, CancellationToken ct)
    {
        Log.Repairing(_log, _digest.ToString());
        var suspects = _pieces.Select(p => p.Source).Distinct()
            .OrderByDescending(s => s.Endpoint.BadBytes).ThenBy(s => _pieces.Where(p => p.Source == s).Sum(p => p.End - p.Start)).ToList();
        foreach (var suspect in suspects)
        {
            var others = _sources.Where(s => s != suspect).OrderBy(s => s.Left).ToList();
            if (others.Count == 0) continue;
            long differing = 0;
            foreach (var piece in _pieces.Where(p => p.Source == suspect).ToList())
                differing += await RefetchAsync(piece, others, sink, repaired, ct);
            if (differing == 0 || !await sink.RehashMatchesAsync(_digest, total, ct)) continue;
            var until = _time.GetUtcNow() + _options.QuarantineFor;
            suspect.Endpoint.Quarantine(until, differing, $"sent {differing} wrong bytes of {_digest}");
            _metrics.BadBytes(Upstream.Name, suspect.Endpoint.Authority, differing);
            Log.Quarantined(_log, _digest.ToString(), suspect.Endpoint.Authority, differing, until);
            return suspect.Endpoint;
        }
        return null;
    }

    /// <summary>Writes the piece again with the bytes of the first of <paramref name="others"/> that delivers them; returns how many bytes differed.</summary>
    private async Task<long> RefetchAsync(Piece piece, List<Source> others, SpoolSink sink, Action<long, long> repaired, CancellationToken ct)
    {
        Exception? last = null;
        var progress = new Refetch(piece.Start);
        foreach (var other in others)
        {
            try
            {
                if (!await RefetchFromAsync(other, piece, progress, sink, repaired, ct)) continue;
                piece.Source = other;
                return progress.Differing;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is UpstreamException or IOException or HttpRequestException or TimeoutException)
            {
                last = e;
            }
        }
        throw new UpstreamException(UpstreamFailure.Corrupt, $"{Label} sent bytes that do not hash to {_digest}, and bytes {piece.Start}-{piece.End - 1} could not be fetched again to find out who: {last?.Message ?? "no endpoint answered the range"}");
    }

    /// <summary>How far a refetch got, and how many bytes differed so far.</summary>
    private sealed class Refetch(long at)
    {
        public long At { get; set; } = at;
        public long Differing { get; set; }
    }

    /// <summary>The rest of the piece from one endpoint, each chunk compared with what is there and written over it when it differs.</summary>
    private async Task<bool> RefetchFromAsync(Source other, Piece piece, Refetch progress, SpoolSink sink, Action<long, long> repaired, CancellationToken ct)
    {
        using var response = await Upstream.GetBlobSegmentAsync(_repository.Name, _digest, other.Endpoint, progress.At, piece.End - 1, ct);
        if (!response.IsPartial || response.Message.Content.Headers.ContentRange?.From != progress.At) return false;
        await using var body = await response.OpenBodyAsync(ct);
        var fresh = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
        var held = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            int n;
            while (progress.At < piece.End && (n = await body.ReadAsync(fresh.AsMemory(0, (int)Math.Min(ChunkSize, piece.End - progress.At)), ct)) > 0)
            {
                _received?.Invoke(n);
                var old = await sink.ReadAtAsync(progress.At, held.AsMemory(0, n), ct);
                var diff = Differing(fresh.AsSpan(0, n), held.AsSpan(0, old));
                if (diff > 0)
                {
                    await sink.WriteAtAsync(progress.At, fresh.AsMemory(0, n), ct);
                    repaired(progress.At, progress.At + n);
                    progress.Differing += diff;
                }
                progress.At += n;
            }
            return progress.At >= piece.End;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(fresh);
            System.Buffers.ArrayPool<byte>.Shared.Return(held);
        }
    }

    private static long Differing(ReadOnlySpan<byte> fresh, ReadOnlySpan<byte> held)
    {
        long n = Math.Max(0, fresh.Length - held.Length);
        for (var i = 0; i < Math.Min(fresh.Length, held.Length); i++)
            if (fresh[i] != held[i]) n++;
        return n;
    }
}

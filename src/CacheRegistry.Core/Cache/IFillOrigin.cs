namespace CacheRegistry.Cache;

/// <summary>
/// Where a fill's bytes come from: the blob store, another replica's running fill, an upstream.
/// An origin only opens the blob at an offset; the fill spools, hashes, verifies and commits.
/// </summary>
public interface IFillOrigin
{
    /// <summary>
    /// A body cut short is opened again where it stopped, and a size it does not give is never
    /// known (an upstream). Otherwise a cut body ends this origin's turn and the size may come later.
    /// </summary>
    bool Resumable { get; }

    /// <summary>The blob from <paramref name="offset"/> on; null when this origin does not have it.</summary>
    Task<OriginBody?> OpenAsync(long offset, CancellationToken ct);
}

/// <summary>
/// An origin's answer: its body, where the body's bytes start in the blob (before the offset asked
/// for when a range was ignored), the blob's size when the origin gave it, and who sent it.
/// </summary>
/// <param name="source">Who sent the bytes, for errors and logs ("upstream docker.io endpoint …").</param>
/// <param name="endpoint">Where the bytes came from, for the fill's report; null leaves the fill's as it was.</param>
/// <param name="owner">What the body belongs to (a response), disposed with it.</param>
public sealed class OriginBody(Stream body, long from, long? total, string source, string? endpoint, IDisposable? owner = null) : IDisposable
{
    public Stream Body { get; } = body;
    public long From { get; } = from;
    public long? Total { get; } = total;
    public string Source { get; } = source;
    public string? Endpoint { get; } = endpoint;
    /// <summary>The bytes come from the repository's own upstream: its repository has the blob.</summary>
    public bool ConfirmsLink { get; init; }
    /// <summary>Told how many bytes each read took from the origin (the upstream quota's reservation).</summary>
    public Action<int>? Received { get; init; }

    public void Dispose()
    {
        Body.Dispose();
        owner?.Dispose();
    }
}

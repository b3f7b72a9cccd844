namespace CacheRegistry.Upstream;

/// <summary>A successful upstream response whose body is still to be read, and the endpoint that gave it.</summary>
/// <param name="measured">The endpoint whose throughput average takes this body's rate when it is disposed.</param>
public sealed class UpstreamResponse(HttpResponseMessage message, Uri endpoint, TimeSpan idleTimeout, TimeProvider time, Action<int>? onBytes = null,
    UpstreamEndpoint? measured = null) : IDisposable
{
    private long _bodyBytes;
    private long _bodyOpened;
    private long _lastBytes;

    public HttpResponseMessage Message { get; } = message;
    public Uri Endpoint { get; } = endpoint;
    public long? ContentLength => Message.Content.Headers.ContentLength;
    public string? DockerContentDigest =>
        Message.Headers.TryGetValues("Docker-Content-Digest", out var v) ? v.FirstOrDefault() : null;
    public string MediaType => Oci.MediaTypes.Bare(Message.Content.Headers.ContentType?.ToString());
    public bool IsPartial => Message.StatusCode == System.Net.HttpStatusCode.PartialContent;

    /// <summary>The body, failing a read that waits longer than the idle timeout.</summary>
    public async Task<Stream> OpenBodyAsync(CancellationToken ct)
    {
        var body = await Message.Content.ReadAsStreamAsync(ct);
        _bodyOpened = time.GetTimestamp();
        return new IdleTimeoutStream(body, idleTimeout, time, n =>
        {
            Interlocked.Add(ref _bodyBytes, n);
            Interlocked.Exchange(ref _lastBytes, time.GetTimestamp());
            onBytes?.Invoke(n);
        });
    }

    /// <summary>Reads a small body whole, refusing one larger than <paramref name="max"/>.</summary>
    public async Task<byte[]> ReadSmallBodyAsync(int max, CancellationToken ct)
    {
        if (ContentLength > max)
            throw new UpstreamException(UpstreamFailure.BadResponse, $"upstream endpoint {Endpoint.Authority} sent {ContentLength} bytes; at most {max} are accepted");
        try
        {
            await using var body = await OpenBodyAsync(ct);
            using var buffer = new MemoryStream();
            var chunk = new byte[16384];
            int n;
            while ((n = await body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + n > max)
                    throw new UpstreamException(UpstreamFailure.BadResponse, $"upstream endpoint {Endpoint.Authority} sent more than {max} bytes");
                await buffer.WriteAsync(chunk.AsMemory(0, n), ct);
            }
            return buffer.ToArray();
        }
        catch (Exception e) when (e is IOException or HttpRequestException or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new UpstreamException(e is TimeoutException ? UpstreamFailure.Timeout : UpstreamFailure.Unavailable,
                $"upstream endpoint {Endpoint.Authority} broke off the body: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        // From the body's start to its last bytes: what the endpoint gave, not how long the reader kept it open.
        if (measured is not null && Interlocked.Read(ref _lastBytes) is var last and not 0)
            measured.RecordTransfer(Interlocked.Read(ref _bodyBytes), time.GetElapsedTime(_bodyOpened, last));
        Message.Dispose();
    }
}

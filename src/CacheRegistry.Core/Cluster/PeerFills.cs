using System.Globalization;
using System.Net;
using CacheRegistry.Oci;

namespace CacheRegistry.Cluster;

/// <summary>Another replica's copy of a blob from an offset: the bytes as they arrive there, and the size when it knows it.</summary>
public sealed class PeerStream(HttpResponseMessage response, Stream body, long? size) : IDisposable
{
    public long? Size { get; } = size;
    public Stream Body { get; } = body;

    public void Dispose()
    {
        Body.Dispose();
        response.Dispose();
    }
}

/// <summary>Reads other replicas' running fills.</summary>
public interface IPeerFills
{
    /// <summary>
    /// The replica at <paramref name="peerUrl"/>'s fill (or stored copy) of the digest from
    /// <paramref name="from"/>; null when it has neither. Throws when it cannot be reached in time.
    /// </summary>
    Task<PeerStream?> OpenAsync(string peerUrl, Digest digest, long from, CancellationToken ct);
}

/// <summary>
/// The client side of <c>GET /internal/fills/{digest}?from=N</c>: signed with the shared secret,
/// never through an egress proxy, headers within <see cref="ClusterOptions.PeerTimeout"/>, and a
/// body that may be silent only as long as an upstream's (<see cref="TimeoutOptions.Idle"/>).
/// </summary>
public sealed class PeerFillClient : IPeerFills, IDisposable
{
    public const string SizeHeader = "X-CacheRegistry-Blob-Size";
    private readonly HttpClient _http;
    private readonly ClusterOptions _cluster;
    private readonly TimeSpan _idle;
    private readonly TimeProvider _time;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The handler belongs to the HttpClient, which disposes it.")]
    public PeerFillClient(RegistryOptions options, TimeProvider time)
    {
        (_cluster, _idle, _time) = (options.Cluster, options.Timeouts.Idle, time);
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false, AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.Cluster.PeerTimeout, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The response and its body belong to the PeerStream, which disposes them.")]
    public async Task<PeerStream?> OpenAsync(string peerUrl, Digest digest, long from, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{peerUrl.TrimEnd('/')}/internal/fills/{digest}?from={from.ToString(CultureInfo.InvariantCulture)}");
        request.Headers.TryAddWithoutValidation("Authorization", PeerSignature.Header(_cluster.Secret!, digest, from, _time.GetUtcNow()));
        using var headers = new Common.Deadline(_cluster.PeerTimeout, _time, ct);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headers.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"replica {peerUrl} did not answer within {_cluster.PeerTimeout.TotalSeconds:F0} s");
        }
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound) return null;
            if (response.StatusCode != HttpStatusCode.OK) throw new HttpRequestException($"replica {peerUrl} answered {(int)response.StatusCode}");
            long? size = response.Headers.TryGetValues(SizeHeader, out var values)
                && long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;
            var body = new IdleTimeoutStream(await response.Content.ReadAsStreamAsync(ct), _idle, _time, source: "replica " + peerUrl);
            return new PeerStream(response, body, size);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public void Dispose() => _http.Dispose();
}

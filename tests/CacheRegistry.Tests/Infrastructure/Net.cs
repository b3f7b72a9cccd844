using System.Net;
using System.Net.Sockets;

namespace CacheRegistry.Tests.Infrastructure;

public static class Net
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>An Authorization header for HTTP Basic: <paramref name="user"/> and <paramref name="password"/>.</summary>
    public static System.Net.Http.Headers.AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{user}:{password}")));

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SocketException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{what} not ready after {timeout.TotalSeconds} s");
    }

    /// <param name="from">Where its connections come from, when not the default: another loopback address (127.0.0.2) is another client as the server sees it.</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The socket goes to the returned stream, which owns it.")]
    public static HttpClient NewHttpClient(IPAddress? from = null) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseProxy = false,
        ConnectCallback = from is null ? null : async (context, ct) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(from, 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    }) { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>
    /// Sends the request and reads the whole body, calling <paramref name="firstBytes"/> once the
    /// first bytes arrived: for tests whose upstream holds the rest back until every client streams.
    /// </summary>
    public static async Task<byte[]> ReadNotingFirstBytesAsync(HttpClient http, HttpRequestMessage request, Action firstBytes)
    {
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        using var received = new MemoryStream();
        var buffer = new byte[8192];
        var n = await body.ReadAsync(buffer);
        firstBytes();
        received.Write(buffer, 0, n);
        await body.CopyToAsync(received);
        return received.ToArray();
    }

    public static string TempDir(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), "cacheregistry-tests", $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Waits until something accepts connections on the port; the diagnostics go into the failure.</summary>
    public static async Task WaitForPortAsync(int port, string what, Func<string> diagnostics)
    {
        try
        {
            await Net.WaitUntilAsync(async () =>
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return true;
            }, TimeSpan.FromSeconds(30), what);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\n" + diagnostics(), e);
        }
    }
}

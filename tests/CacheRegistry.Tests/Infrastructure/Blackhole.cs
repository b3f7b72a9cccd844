using System.Net;
using System.Net.Sockets;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>An upstream that accepts connections and never answers: a blackholed link.</summary>
public sealed class Blackhole : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _held = [];
    private readonly CancellationTokenSource _stop = new();

    public Blackhole()
    {
        _listener.Start();
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    lock (_held) _held.Add(socket);
                }
                catch (Exception)
                {
                    return;
                }
            }
        });
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_held) foreach (var s in _held) s.Dispose();
        _stop.Dispose();
    }
}

using System.Net;
using System.Net.Sockets;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>How a <see cref="FaultRelay"/> treats traffic.</summary>
public enum RelayMode
{
    /// <summary>Bytes flow both ways.</summary>
    Pass,
    /// <summary>The port is closed: new connections are refused, open ones reset (a stopped process).</summary>
    Refuse,
    /// <summary>Connections are accepted but nothing flows either way (a dropped route, a frozen peer).</summary>
    Blackhole,
    /// <summary>Requests reach the peer but its answers stop, mid-stream if one was flowing (a hung peer).</summary>
    Stall,
    /// <summary>Every connection, open or new, is reset.</summary>
    Reset,
    /// <summary>
    /// Like <see cref="Blackhole"/>, but every connection that was open at any time during it stays
    /// silent for good after it ends (a middlebox that dropped the flows' state): only connections
    /// made after it carry bytes again.
    /// </summary>
    Partition,
}

/// <summary>
/// A TCP relay in front of a real server (Redis, S3, an upstream registry) that turns faults on
/// and off: refusal, blackhole, stall and reset. Bytes held back by a blackhole or stall flow
/// again when the mode goes back to <see cref="RelayMode.Pass"/>, as after a network recovers.
/// </summary>
public sealed class FaultRelay : IAsyncDisposable
{
    private readonly int _target;
    private readonly IPAddress _listenOn;
    private readonly object _lock = new();
    private readonly List<(TcpClient Client, TcpClient? Server)> _connections = [];
    private readonly CancellationTokenSource _stop = new(); // never disposed: relay tasks may still look at it
    private TcpListener? _listener;
    private RelayMode _mode;
    private long _responseBudget = long.MaxValue;
    private long _lastConnection;
    private long _silentUpTo; // connections numbered up to this stay silent (see RelayMode.Partition)
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="targetPort">The loopback port of the server behind the relay.</param>
    /// <param name="listenOn">Where the relay listens: loopback unless containers must reach it (a bridge's gateway).</param>
    public FaultRelay(int targetPort, IPAddress? listenOn = null)
    {
        _target = targetPort;
        _listenOn = listenOn ?? IPAddress.Loopback;
        Port = Net.FreePort();
        Listen();
    }

    public int Port { get; }
    public string Address => $"{_listenOn}:{Port}";
    public string Url => $"http://{Address}";

    public RelayMode Mode
    {
        get => _mode;
        set
        {
            lock (_lock)
            {
                if (_mode == value) return;
                var was = _mode;
                if (was == RelayMode.Partition) _silentUpTo = Interlocked.Read(ref _lastConnection);
                _mode = value;
                if (value is RelayMode.Refuse or RelayMode.Reset) ResetAll();
                if (value == RelayMode.Refuse) { _listener?.Stop(); _listener = null; }
                if (was == RelayMode.Refuse) Listen();
                _changed.TrySetResult();
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>
    /// Lets only <paramref name="bytes"/> more bytes of answers through, then stalls them (a peer
    /// that hangs in the middle of a body), until the mode changes.
    /// </summary>
    public void StallAnswersAfter(long bytes) => Interlocked.Exchange(ref _responseBudget, bytes);

    private void Listen()
    {
        var listener = new TcpListener(_listenOn, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        _ = Task.Run(() => AcceptAsync(listener));
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                return; // stopped (Refuse) or disposed
            }
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        var number = Interlocked.Increment(ref _lastConnection);
        var entry = (client, (TcpClient?)null);
        lock (_lock)
        {
            if (_mode is RelayMode.Reset or RelayMode.Refuse) { Abort(client); return; }
            _connections.Add(entry);
        }
        try
        {
            // A blackholed connection never reaches the server, until the blackhole lifts.
            while (Mode is RelayMode.Blackhole or RelayMode.Partition || Silenced(number)) await WaitForChangeAsync();
            var server = new TcpClient();
            await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            lock (_lock)
            {
                _connections.Remove(entry);
                entry = (client, server);
                _connections.Add(entry);
            }
            using (server)
            {
                await Task.WhenAny(
                    PumpAsync(client.GetStream(), server.GetStream(), toServer: true, number),
                    PumpAsync(server.GetStream(), client.GetStream(), toServer: false, number));
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            lock (_lock) _connections.Remove(entry);
            client.Dispose();
        }
    }

    private async Task PumpAsync(Stream from, Stream to, bool toServer, long number)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await from.ReadAsync(buffer, _stop.Token);
            if (n == 0)
            {
                return;
            }
            var chunk = buffer.AsMemory(0, n);
            while (!chunk.IsEmpty)
            {
                while (!Forwards(toServer) || Silenced(number)) await WaitForChangeAsync();
                var allowed = toServer ? chunk.Length : (int)Math.Min(chunk.Length, TakeBudget(chunk.Length));
                if (allowed == 0)
                {
                    await WaitForChangeAsync();
                    Interlocked.Exchange(ref _responseBudget, long.MaxValue); // a mode change lifts the stall
                    continue;
                }
                await to.WriteAsync(chunk[..allowed], _stop.Token);
                chunk = chunk[allowed..];
            }
        }
    }

    private long TakeBudget(int wanted)
    {
        while (true)
        {
            var budget = Interlocked.Read(ref _responseBudget);
            var take = Math.Min(budget, wanted);
            if (Interlocked.CompareExchange(ref _responseBudget, budget - take, budget) == budget) return take;
        }
    }

    private bool Silenced(long connection)
    {
        lock (_lock) return connection <= _silentUpTo;
    }

    private bool Forwards(bool toServer) => Mode switch
    {
        RelayMode.Pass => true,
        RelayMode.Stall => toServer,
        _ => false,
    };

    private Task WaitForChangeAsync()
    {
        Task changed;
        lock (_lock) changed = _changed.Task;
        return changed.WaitAsync(_stop.Token);
    }

    private void ResetAll()
    {
        foreach (var (c, s) in _connections)
        {
            Abort(c);
            if (s is not null) Abort(s);
        }
        _connections.Clear();
    }

    private static void Abort(TcpClient c)
    {
        try
        {
            if (c.Client is { } socket) socket.LingerState = new LingerOption(true, 0); // close with RST
            c.Dispose();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        lock (_lock)
        {
            _listener?.Stop();
            ResetAll();
        }
        return ValueTask.CompletedTask;
    }
}

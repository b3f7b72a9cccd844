using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace CacheRegistry.Storage;

/// <summary>
/// Guards every call to one store. Each call has a deadline; a timeout counts as an outage just
/// like a refused connection. After an outage the store is marked down: calls fail at once with
/// <see cref="StoreUnavailableException"/> (so one hung store costs one deadline, not one per
/// request) while a background probe asks it every probe interval, until it answers again.
/// </summary>
public sealed partial class StoreCircuit
{
    private readonly Func<CancellationToken, Task> _probe;
    private readonly Func<Exception, bool> _isOutage;
    private readonly StoreHealth _health;
    private readonly ILogger _log;
    private volatile DownState? _down;
    private int _probing;

    /// <param name="name">The store as operators know it, e.g. <c>metadata (redis 10.0.0.5:6379)</c>.</param>
    /// <param name="probe">A cheap call that succeeds only when the store works.</param>
    /// <param name="isOutage">Store-specific exceptions that mean "unavailable" (timeouts, I/O and socket errors always do).</param>
    public StoreCircuit(string name, Func<CancellationToken, Task> probe, Func<Exception, bool> isOutage, StoreHealth health)
    {
        Name = name;
        _probe = probe;
        _isOutage = isOutage;
        _health = health;
        _log = health.Logs.CreateLogger<StoreCircuit>();
    }

    private sealed record DownState(string Reason, DateTimeOffset Since);

    public string Name { get; }
    public bool IsDown => _down is not null;
    public DateTimeOffset? DownSince => _down?.Since;
    public TimeSpan CallTimeout => _health.CallTimeout;
    public TimeProvider Time => _health.Time;

    /// <summary>Raised (with the reason) when the store is marked down.</summary>
    public event EventHandler<string>? WentDown;

    /// <summary>Runs one call under the deadline (or <paramref name="timeout"/> for calls that move data).</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken ct, TimeSpan? timeout = null)
    {
        ThrowIfDown();
        var limit = timeout ?? _health.CallTimeout;
        using var deadline = new Common.Deadline(limit, _health.Time, ct);
        try
        {
            // WaitAsync: StackExchange.Redis commands take no token (its documented way to bound them).
            return await call(deadline.Token).WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw Failed($"no answer within {limit.TotalSeconds:0.#} s", e);
        }
        catch (StoreUnavailableException e)
        {
            throw Failed(e.Reason, e.InnerException);
        }
        catch (Exception e) when (IsOutage(e))
        {
            throw Failed(e.Message, e);
        }
    }

    public Task RunAsync(Func<CancellationToken, Task> call, CancellationToken ct, TimeSpan? timeout = null) =>
        RunAsync(async c =>
        {
            await call(c);
            return true;
        }, ct, timeout);

    /// <summary>Runs a synchronous call (SQLite, the file system); its own timeouts bound it.</summary>
    public Task<T> Run<T>(Func<T> call) => RunAsync(_ => Task.FromResult(call()), CancellationToken.None);

    public bool IsOutage(Exception e) => e is TimeoutException or IOException or SocketException or HttpRequestException or UnauthorizedAccessException || _isOutage(e);

    /// <summary>Fails at once while the store is marked down.</summary>
    public void ThrowIfDown()
    {
        if (_down is { } down)
            throw new StoreUnavailableException(Name,
                $"down for {(_health.Time.GetUtcNow() - down.Since).TotalSeconds:0} s ({down.Reason}); probed every {_health.ProbeInterval.TotalSeconds:0.#} s");
    }

    /// <summary>Marks the store down (a call failed outside <see cref="RunAsync{T}"/>, e.g. mid-stream) and returns the exception to throw.</summary>
    public StoreUnavailableException Failed(string reason, Exception? inner = null)
    {
        if (_down is null)
        {
            _down = new DownState(reason, _health.Time.GetUtcNow());
            Log.Down(_log, Name, reason, _health.ProbeInterval);
            WentDown?.Invoke(this, reason);
        }
        StartProbing();
        return new StoreUnavailableException(Name, reason, inner);
    }

    /// <summary>For /readyz: why the store is down, or null when it answers now.</summary>
    public async Task<string?> CheckAsync(CancellationToken ct)
    {
        if (_down is { } down) return $"down since {down.Since:yyyy-MM-ddTHH:mm:ssZ}: {down.Reason}";
        try
        {
            await RunAsync(_probe, ct);
            return null;
        }
        catch (StoreUnavailableException e)
        {
            return e.Reason;
        }
    }

    private void StartProbing()
    {
        if (Interlocked.CompareExchange(ref _probing, 1, 0) == 0) _ = Task.Run(ProbeUntilUpAsync);
    }

    private async Task ProbeUntilUpAsync()
    {
        while (_down is not null && !_health.Stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_health.ProbeInterval, _health.Time, _health.Stopping);
                using var deadline = new Common.Deadline(_health.CallTimeout, _health.Time, _health.Stopping);
                await _probe(deadline.Token).WaitAsync(deadline.Token);
                var since = _down?.Since;
                _down = null;
                Log.Up(_log, Name, since is { } s ? (_health.Time.GetUtcNow() - s).TotalSeconds : 0);
            }
            #pragma warning disable CA1031 // whatever the probe throws, the store is still down
            catch (Exception e)
            {
                if (_down is { } down) _down = down with { Reason = e is OperationCanceledException ? "probe got no answer" : e.Message };
            }
            #pragma warning restore CA1031
        }
        Volatile.Write(ref _probing, 0);
        if (IsDown && !_health.Stopping.IsCancellationRequested) StartProbing(); // marked down again, by another thread, between the last probe and now
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "{Store} marked down: {Reason}; requests skip it, probing every {Interval}")]
        public static partial void Down(ILogger logger, string store, string reason, TimeSpan interval);

        [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "{Store} answers again after {Seconds:0} s down")]
        public static partial void Up(ILogger logger, string store, double seconds);
    }
}

using System.Security.Cryptography;
using System.Text;
using CacheRegistry.Telemetry;
using Microsoft.Extensions.Caching.Memory;

namespace CacheRegistry.Server.Auth;

/// <summary>The outcome of a login: the user, or null (wrong), or a wait before the next try.</summary>
internal readonly record struct LoginResult(string? User, TimeSpan? RetryAfter = null, string? Why = null);

/// <summary>
/// Checks the Basic credentials clients send against the htpasswd file, which is re-read when it
/// changes (at most one look at the file per second). bcrypt is slow on purpose, and every
/// registry request carries the credentials, so each user-and-password pair is verified once per
/// file version. Floods of wrong logins cannot starve real ones: at most one verification per core
/// runs and a few per core wait (more are told to retry), wrong logins back off per address and
/// per user (<see cref="LoginThrottle"/>), and the pairs remembered as right are kept apart from
/// those remembered as wrong, so wrong guesses never push a real user's pair out.
/// </summary>
internal sealed partial class ClientAuthenticator : IDisposable
{
    public const string Anonymous = "anonymous";
    private const int MaxRemembered = 10_000;
    private static readonly int MaxWaiting = 4 * Environment.ProcessorCount;

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly ILogger<ClientAuthenticator> _log;
    private readonly CacheMetrics _metrics;
    private readonly LoginThrottle _throttle;
    private readonly SemaphoreSlim _verifications = new(Environment.ProcessorCount);
    private int _waiting;
    private readonly Lock _reload = new();
    private volatile Loaded _current;
    private DateTimeOffset _nextLook;

    /// <summary>One version of the file and what was verified against it (least recently used pairs go first).</summary>
    private sealed record Loaded(Htpasswd File, DateTime Modified, long Length, MemoryCache Right, MemoryCache Wrong);

    public ClientAuthenticator(RegistryOptions options, TimeProvider time, ILogger<ClientAuthenticator> log, CacheMetrics metrics)
    {
        _path = Path.GetFullPath(options.Auth.Htpasswd ?? throw new InvalidOperationException("Registry:Auth:Htpasswd is not set"));
        _time = time;
        _log = log;
        _metrics = metrics;
        _throttle = new LoginThrottle(time);
        _current = Load();
        _nextLook = time.GetUtcNow().AddSeconds(1);
    }

    public int Users => _current.File.Count;

    /// <summary>Who the Basic credentials from <paramref name="address"/> name: the user, wrong (or not Basic), or wait.</summary>
    public async Task<LoginResult> AuthenticateAsync(string authorization, string address, CancellationToken ct)
    {
        if (CacheRegistry.Upstream.ClientCredentials.Parse(authorization)?.Basic is not { } basic) return default;
        var (user, password) = (basic.Username, basic.Password);
        var loaded = Current();
        var hash = loaded.File.HashOf(user);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{user}\0{password}\0{hash}")));
        if (loaded.Right.TryGetValue(key, out _)) return new(user);
        if (loaded.Wrong.TryGetValue(key, out _)) return default;
        if (_throttle.TryBegin(user, address) is { } wait)
        {
            _metrics.Login("throttled");
            return new(null, wait, $"too many wrong logins from {address} or for this user");
        }
        if (Interlocked.Increment(ref _waiting) > MaxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            _metrics.Login("busy");
            return new(null, TimeSpan.FromSeconds(1), "too many logins being checked at once");
        }
        bool ok;
        try
        {
            await _verifications.WaitAsync(ct);
            try
            {
                // Unknown users are checked too, against a hash as costly as the file's: the time tells nothing.
                ok = Bcrypt.Verify(password, hash ?? loaded.File.DummyHash) && hash is not null;
            }
            finally
            {
                _verifications.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        (ok ? loaded.Right : loaded.Wrong).Set(key, true, new MemoryCacheEntryOptions { Size = 1 });
        if (ok) _throttle.Succeeded(user, address);
        _metrics.Login(ok ? "ok" : "wrong");
        return ok ? new(user) : default;
    }

    /// <summary>The file as last read, read again first when it changed (looked at no more than once a second).</summary>
    private Loaded Current()
    {
        var now = _time.GetUtcNow();
        if (now < _nextLook) return _current;
        lock (_reload)
        {
            if (now < _nextLook) return _current;
            _nextLook = now.AddSeconds(1);
            try
            {
                var info = new FileInfo(_path);
                if (info.Exists && (info.LastWriteTimeUtc != _current.Modified || info.Length != _current.Length)) _current = Load();
            }
            catch (IOException e)
            {
                Log.ReloadFailed(_log, _path, e.Message);
            }
            return _current;
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000",
        Justification = "A version's caches are left to the GC when the file changes: requests still holding it may write to them; MemoryCache runs no timer.")]
    private Loaded Load()
    {
        var info = new FileInfo(_path);
        var file = Htpasswd.Parse(File.ReadAllLines(_path));
        Log.Loaded(_log, _path, file.Count);
        foreach (var reason in file.Skipped) Log.Skipped(_log, _path, reason);
        return new Loaded(file, info.LastWriteTimeUtc, info.Length, Remembered(), Remembered());
    }

    // Past the limit a new pair is not kept and the least recently used 5 % go (MemoryCache's compaction).
    private static MemoryCache Remembered() => new(new MemoryCacheOptions { SizeLimit = MaxRemembered });

    public void Dispose() => _verifications.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 800, Level = LogLevel.Information, Message = "auth: {Path} read, {Users} users")]
        public static partial void Loaded(ILogger logger, string path, int users);

        [LoggerMessage(EventId = 801, Level = LogLevel.Warning, Message = "auth: {Path}: {Reason}")]
        public static partial void Skipped(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 802, Level = LogLevel.Warning, Message = "auth: {Path} could not be read again, the last version stays in use: {Reason}")]
        public static partial void ReloadFailed(ILogger logger, string path, string reason);
    }
}

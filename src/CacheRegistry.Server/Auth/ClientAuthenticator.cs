using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// Checks the Basic credentials clients send against the htpasswd file, which is re-read when it
/// changes (at most one look at the file per second). bcrypt is slow on purpose, and every
/// registry request carries the credentials, so each user-and-password pair is verified once per
/// file version; at most one verification per core runs at a time.
/// </summary>
internal sealed partial class ClientAuthenticator : IDisposable
{
    public const string Anonymous = "anonymous";
    private const int MaxRemembered = 10_000;

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly ILogger<ClientAuthenticator> _log;
    private readonly SemaphoreSlim _verifications = new(Environment.ProcessorCount);
    private readonly Lock _reload = new();
    private volatile Loaded _current;
    private DateTimeOffset _nextLook;

    private sealed record Loaded(Htpasswd File, DateTime Modified, long Length, ConcurrentDictionary<string, bool> Verified);

    public ClientAuthenticator(RegistryOptions options, TimeProvider time, ILogger<ClientAuthenticator> log)
    {
        _path = Path.GetFullPath(options.Auth.Htpasswd ?? throw new InvalidOperationException("Registry:Auth:Htpasswd is not set"));
        _time = time;
        _log = log;
        _current = Load();
        _nextLook = time.GetUtcNow().AddSeconds(1);
    }

    public int Users => _current.File.Count;

    /// <summary>The user the Basic credentials name, or null when they are wrong (or not Basic).</summary>
    public async Task<string?> AuthenticateAsync(string authorization, CancellationToken ct)
    {
        if (CacheRegistry.Upstream.ClientCredentials.Parse(authorization)?.Basic is not { } basic) return null;
        var (user, password) = (basic.Username, basic.Password);
        var loaded = Current();
        var hash = loaded.File.HashOf(user);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{user}\0{password}\0{hash}")));
        if (loaded.Verified.TryGetValue(key, out var known)) return known ? user : null;
        await _verifications.WaitAsync(ct);
        bool ok;
        try
        {
            // Unknown users are checked too, against a hash as costly as the file's: the time tells nothing.
            ok = Bcrypt.Verify(password, hash ?? loaded.File.DummyHash) && hash is not null;
        }
        finally
        {
            _verifications.Release();
        }
        if (loaded.Verified.Count >= MaxRemembered) loaded.Verified.Clear();
        loaded.Verified[key] = ok;
        return ok ? user : null;
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

    private Loaded Load()
    {
        var info = new FileInfo(_path);
        var file = Htpasswd.Parse(File.ReadAllLines(_path));
        Log.Loaded(_log, _path, file.Count);
        foreach (var reason in file.Skipped) Log.Skipped(_log, _path, reason);
        return new Loaded(file, info.LastWriteTimeUtc, info.Length, new ConcurrentDictionary<string, bool>(StringComparer.Ordinal));
    }

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

using System.Collections.Concurrent;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// Backs off password guessing. Every login that needs a verification counts against its client
/// address and its user name from the moment it starts (so a burst of guesses is stopped at once,
/// not after the verifications it queued); a success takes its count back. Past
/// <see cref="FreeAttempts"/> a key waits 1 s, then 2, 4… up to <see cref="MaxWait"/> before its
/// next verification. A user's backoff does not hold against an address that user signed in from
/// before, so guessing at a name cannot lock its owner out where they already work. A key is
/// forgotten <see cref="Forget"/> after its last attempt.
/// </summary>
internal sealed class LoginThrottle(TimeProvider time)
{
    public const int FreeAttempts = 5;
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan Forget = TimeSpan.FromMinutes(15);
    private const int MaxKeys = 100_000;
    private const int KnownAddressesPerUser = 16;

    private sealed record Attempts(int Count, DateTimeOffset Last)
    {
        public DateTimeOffset Until => Last + WaitAfter(Count);
    }

    private readonly ConcurrentDictionary<string, Attempts> _attempts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string[]> _knownAddresses = new(StringComparer.Ordinal);

    /// <summary>Null when this login may be verified now (and counts from now on); otherwise how long to wait.</summary>
    public TimeSpan? TryBegin(string user, string address)
    {
        var now = time.GetUtcNow();
        if (_attempts.Count >= MaxKeys) Sweep(now);
        var known = _knownAddresses.TryGetValue(user, out var addresses) && addresses.Contains(address, StringComparer.Ordinal);
        var wait = Remaining(AddressKey(address), now);
        if (!known && Remaining(UserKey(user), now) is { } userWait && (wait is null || userWait > wait)) wait = userWait;
        if (wait is not null) return wait;
        Count(AddressKey(address), now, +1);
        Count(UserKey(user), now, +1);
        return null;
    }

    /// <summary>The login was right: its attempt is taken back, and the address is one this user works from.</summary>
    public void Succeeded(string user, string address)
    {
        var now = time.GetUtcNow();
        _attempts.TryRemove(AddressKey(address), out _);
        Count(UserKey(user), now, -1);
        if (_knownAddresses.Count >= MaxKeys) _knownAddresses.Clear();
        _knownAddresses.AddOrUpdate(user, _ => [address],
            (_, known) => known.Contains(address, StringComparer.Ordinal) ? known : [address, .. known.Take(KnownAddressesPerUser - 1)]);
    }

    public static TimeSpan WaitAfter(int attempts)
    {
        var over = attempts - FreeAttempts;
        return over <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Min(MaxWait.TotalSeconds, Math.Pow(2, Math.Min(over - 1, 30))));
    }

    private void Count(string key, DateTimeOffset now, int delta) =>
        _attempts.AddOrUpdate(key, _ => new Attempts(Math.Max(0, delta), now),
            (_, a) => new Attempts(Math.Max(0, (now - a.Last < Forget ? a.Count : 0) + delta), delta > 0 ? now : a.Last));

    private TimeSpan? Remaining(string key, DateTimeOffset now) =>
        _attempts.TryGetValue(key, out var a) && a.Until > now ? a.Until - now : null;

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, a) in _attempts)
            if (now - a.Last >= Forget) _attempts.TryRemove(key, out _);
        if (_attempts.Count >= MaxKeys) _attempts.Clear(); // attempts from more keys than that: start again rather than grow
    }

    private static string AddressKey(string address) => "a\0" + address;
    private static string UserKey(string user) => "u\0" + user;
}

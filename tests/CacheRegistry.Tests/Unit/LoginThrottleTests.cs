using CacheRegistry.Server.Auth;

namespace CacheRegistry.Tests.Unit;

public sealed class LoginThrottleTests
{
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Past_the_free_attempts_an_address_waits_1_then_2_then_4_seconds_up_to_a_minute()
    {
        var throttle = new LoginThrottle(_time);
        for (var i = 0; i < LoginThrottle.FreeAttempts; i++) Assert.Null(throttle.TryBegin($"guess{i}", "10.0.0.9"));
        foreach (var expected in new[] { 1, 2, 4, 8, 16, 32, 60, 60 })
        {
            Assert.Null(throttle.TryBegin("someone", "10.0.0.9")); // the one attempt each wait allows
            Assert.Equal(TimeSpan.FromSeconds(expected), throttle.TryBegin("someone-else", "10.0.0.9"));
            _time.Now += TimeSpan.FromSeconds(expected);
        }
        Assert.Null(throttle.TryBegin("anyone", "10.0.0.10")); // other addresses go on
        _time.Now += LoginThrottle.Forget;
        Assert.Null(throttle.TryBegin("guess", "10.0.0.9"));
        Assert.Null(throttle.TryBegin("guess", "10.0.0.9")); // forgotten: free attempts again
    }

    [Fact]
    public void A_guessed_at_user_waits_except_from_an_address_it_signed_in_from_and_a_success_takes_its_attempt_back()
    {
        var throttle = new LoginThrottle(_time);
        Assert.Null(throttle.TryBegin("alice", "10.0.0.1"));
        throttle.Succeeded("alice", "10.0.0.1");
        // Guesses at alice from many addresses, each under its own free attempts: the name's own count stops them.
        for (var i = 0; i <= LoginThrottle.FreeAttempts; i++) Assert.Null(throttle.TryBegin("alice", $"10.9.0.{i}"));
        Assert.NotNull(throttle.TryBegin("alice", "10.9.1.1"));
        Assert.Null(throttle.TryBegin("alice", "10.0.0.1")); // where alice works
        throttle.Succeeded("alice", "10.0.0.1");

        // Successes do not add up: nodes logging in again after a reload are not slowed.
        var fresh = new LoginThrottle(_time);
        for (var i = 0; i < 3 * LoginThrottle.FreeAttempts; i++)
        {
            Assert.Null(fresh.TryBegin("bob", $"10.1.0.{i}"));
            fresh.Succeeded("bob", $"10.1.0.{i}");
        }
    }
}

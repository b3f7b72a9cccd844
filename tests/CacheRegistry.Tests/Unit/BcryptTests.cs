using CacheRegistry.Server.Auth;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Unit;

/// <summary>htpasswd's bcrypt on BCrypt.Net-Next: the OpenWall/John the Ripper vectors, crypt_blowfish's $2y$, and Apache's htpasswd -B.</summary>
public sealed class BcryptTests
{
    [Theory]
    [InlineData("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")]
    [InlineData("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK")]
    [InlineData("U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a")]
    [InlineData("", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy")]
    [InlineData("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
        "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui")]
    public void The_published_vectors_verify_and_a_changed_password_does_not(string password, string hash)
    {
        Assert.True(Bcrypt.Verify(password, hash));
        Assert.False(Bcrypt.Verify("x" + password, hash));
        Assert.False(Bcrypt.Verify(password, hash[..^1] + (hash[^1] == 'a' ? 'b' : 'a')));
    }

    [Theory]
    // For ASCII passwords $2a$, $2b$ and $2y$ compute the same hash: OpenWall's vector in the forms htpasswd and OpenBSD write.
    [InlineData("U*U", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")]
    [InlineData("U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")]
    public void The_2y_and_2b_forms_verify(string password, string hash)
    {
        Assert.True(Bcrypt.Verify(password, hash));
        Assert.False(Bcrypt.Verify(password + password, hash));
    }

    [Theory]
    [InlineData(4, "s3cret")]
    [InlineData(5, "pässwörd ✓")]
    [InlineData(8, "a password with spaces and: colons")]
    [InlineData(10, "0123456789012345678901234567890123456789012345678901234567890123456789AB")] // exactly 72 bytes
    public async Task Hashes_made_by_htpasswd_B_verify(int cost, string password)
    {
        var made = await ProcessRunner.RunAsync(ProcessRunner.Require("htpasswd"), ["-nbB", "-C", cost.ToString(System.Globalization.CultureInfo.InvariantCulture), "alice", password]);
        Assert.True(made.ExitCode == 0, made.Output);
        var hash = made.Output.Trim().Split(':', 2)[1];
        Assert.StartsWith($"$2y${cost:D2}$", hash, StringComparison.Ordinal);
        Assert.True(Bcrypt.Verify(password, hash));
        Assert.False(Bcrypt.Verify(password[..^1], hash));
        Assert.False(Bcrypt.Verify("!" + password[1..], hash));
        Assert.True(Bcrypt.Verify(password + "beyond the 72 bytes bcrypt reads", hash) == (System.Text.Encoding.UTF8.GetByteCount(password) >= 72));
    }

    [Theory]
    [InlineData("$apr1$abc$def")] // Apache MD5
    [InlineData("{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=")]
    [InlineData("$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")] // crypt_blowfish's bug-compatible mode
    [InlineData("$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")] // cost below 4
    [InlineData("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe")] // one character short
    [InlineData("$2a$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")] // not bcrypt's alphabet
    public void Anything_else_never_verifies(string hash)
    {
        Assert.False(Bcrypt.IsBcrypt(hash));
        Assert.False(Bcrypt.Verify("U*U", hash));
    }

    [Fact]
    public void Htpasswd_keeps_bcrypt_entries_and_says_why_it_skipped_the_rest()
    {
        var file = Htpasswd.Parse([
            "# users", "alice:$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "", "bob:$apr1$abc$def", "no-colon",
            "alice:$2y$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
        ]);
        Assert.Equal(1, file.Count);
        Assert.NotNull(file.HashOf("alice"));
        Assert.Null(file.HashOf("bob"));
        Assert.Equal(3, file.Skipped.Count);
        Assert.Contains(file.Skipped, s => s.Contains("htpasswd -B", StringComparison.Ordinal));
    }

    [Fact]
    public void Entries_above_the_maximum_cost_are_skipped_naming_the_line_and_the_cost()
    {
        var file = Htpasswd.Parse(["alice:$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "mallory:$2y$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"]);
        Assert.Null(file.HashOf("mallory"));
        Assert.NotNull(file.HashOf("alice"));
        var reason = Assert.Single(file.Skipped);
        Assert.Contains("line 2 (user mallory): bcrypt cost 31 is above the 12", reason);
    }

    [Fact]
    public async Task Unknown_users_cost_what_the_files_entries_cost()
    {
        var made = await ProcessRunner.RunAsync(ProcessRunner.Require("htpasswd"), ["-nbB", "-C", "6", "alice", "alice-pw"]);
        var file = Htpasswd.Parse([made.Output.Trim()]);
        Assert.Equal(6, Bcrypt.Cost(file.DummyHash));
        Assert.False(Bcrypt.Verify("anything", file.DummyHash));

        // A wrong password for a real user and any password for an unknown one take alike (medians
        // within a factor of three; a dummy of another cost is 2^k apart). Taken in turns, so both
        // see the same load from whatever else runs.
        var (known, unknown) = (new List<double>(), new List<double>());
        for (var i = 0; i < 15; i++)
        {
            known.Add(Time(() => Bcrypt.Verify("wrong", file.HashOf("alice")!)));
            unknown.Add(Time(() => Bcrypt.Verify("wrong", file.DummyHash)));
        }
        Assert.InRange(Median(unknown) / Median(known), 1 / 3.0, 3.0);
    }

    private static double Time(Func<bool> verify)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        verify();
        return System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static double Median(List<double> times) => times.Order().ElementAt(times.Count / 2);
}

using CacheRegistry.Server.Auth;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Unit;

/// <summary>bcrypt, written here from the published algorithm: pi's digits, the OpenWall/John the Ripper vectors, and Apache's htpasswd -B.</summary>
public sealed class BcryptTests
{
    [Fact]
    public void Blowfish_starts_from_the_hex_digits_of_pi()
    {
        var state = BlowfishPi.InitialState();
        Assert.Equal([0x243F6A88u, 0x85A308D3u, 0x13198A2Eu, 0x03707344u], state[..4]);
        Assert.Equal(0x8979FB1Bu, state[17]); // the last P-array word
        Assert.Equal(0xD1310BA6u, state[18]); // S-box 0, word 0
        Assert.Equal(0x3AC372E6u, state[^1]); // S-box 3, word 255
    }

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

    [Fact]
    public void A_password_of_raw_bytes_hashes_as_in_crypt_blowfish_2y()
    {
        Assert.True(Bcrypt.Verify([0xa3], "$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq"));
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
}

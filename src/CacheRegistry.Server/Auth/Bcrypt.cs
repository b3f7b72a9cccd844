namespace CacheRegistry.Server.Auth;

/// <summary>
/// htpasswd's bcrypt entries (<c>$2a$</c>, <c>$2b$</c>, <c>$2y$</c>, as Apache's <c>htpasswd -B</c>
/// writes them), verified by BCrypt.Net-Next. This file only decides which strings are bcrypt
/// hashes at all, so that the library never sees anything else.
/// </summary>
internal static class Bcrypt
{
    public const int MinCost = 4, MaxCost = 31;
    private static readonly System.Buffers.SearchValues<char> Alphabet =
        System.Buffers.SearchValues.Create("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");

    /// <summary>Whether <paramref name="hash"/> is a bcrypt hash (<c>$2y$10$</c> + 53 characters of bcrypt's alphabet).</summary>
    public static bool IsBcrypt(string hash) =>
        hash.Length == 60 && hash.StartsWith("$2", StringComparison.Ordinal) && hash[2] is 'a' or 'b' or 'y' && hash[3] == '$' && hash[6] == '$'
        && char.IsAsciiDigit(hash[4]) && char.IsAsciiDigit(hash[5]) && Cost(hash) is >= MinCost and <= MaxCost
        && !hash.AsSpan(7).ContainsAnyExcept(Alphabet);

    /// <summary>The cost (log2 of the rounds) of a bcrypt hash.</summary>
    public static int Cost(string hash) => (hash[4] - '0') * 10 + (hash[5] - '0');

    /// <summary>True when <paramref name="password"/> (as UTF-8, as clients send it) hashes to <paramref name="hash"/>; the library compares in constant time.</summary>
    public static bool Verify(string password, string hash) => IsBcrypt(hash) && BCrypt.Net.BCrypt.Verify(password, hash);
}

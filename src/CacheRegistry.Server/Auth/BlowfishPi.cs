using System.Numerics;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// Blowfish's initial state: its 18 P-array and 4 × 256 S-box words are the fractional part of
/// pi in hexadecimal, in order (0x243F6A88, 0x85A308D3, …). Computed once with Machin's formula
/// rather than copied in as a 1042-word table; the tests check it against the published values.
/// </summary>
internal static class BlowfishPi
{
    public const int Words = 18 + 4 * 256;

    private static readonly Lazy<uint[]> State = new(Compute);

    /// <summary>A fresh copy of the initial P-array followed by the four S-boxes.</summary>
    public static uint[] InitialState() => (uint[])State.Value.Clone();

    private static uint[] Compute()
    {
        const int bits = Words * 32 + 64; // 64 guard bits absorb the series' truncation errors
        var one = BigInteger.One << bits;
        var pi = 16 * ArcTanInverse(5, one) - 4 * ArcTanInverse(239, one);
        var fraction = pi - 3 * one;
        var words = new uint[Words];
        for (var i = 0; i < Words; i++)
            words[i] = (uint)((fraction >> (bits - 32 * (i + 1))) & uint.MaxValue);
        return words;
    }

    /// <summary>arctan(1/x) in fixed point with the given one.</summary>
    private static BigInteger ArcTanInverse(int x, BigInteger one)
    {
        var power = one / x;
        var sum = power;
        var xSquared = x * x;
        for (var k = 1; !power.IsZero; k++)
        {
            power /= xSquared;
            var term = power / (2 * k + 1);
            sum += k % 2 == 1 ? -term : term;
        }
        return sum;
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// bcrypt password verification (Provos and Mazières, 1999, as in OpenBSD's bcrypt.c): the
/// <c>$2a$</c>, <c>$2b$</c> and <c>$2y$</c> hashes Apache's <c>htpasswd -B</c> writes. No bcrypt
/// package restores here; this follows the published algorithm and is tested against
/// htpasswd's hashes and the OpenBSD/OpenWall test vectors.
/// </summary>
internal static class Bcrypt
{
    public const int MinCost = 4, MaxCost = 31;
    private const string Alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    private static readonly System.Buffers.SearchValues<char> AlphabetValues = System.Buffers.SearchValues.Create(Alphabet);
    private static readonly byte[] MagicText = "OrpheanBeholderScryDoubt"u8.ToArray();

    /// <summary>Whether <paramref name="hash"/> is a bcrypt hash this can check (<c>$2a$10$</c> + 53 characters).</summary>
    public static bool IsBcrypt(string hash) => TryParse(hash, out _, out _, out _);

    /// <summary>True when <paramref name="password"/> hashes to <paramref name="hash"/>; compared in constant time.</summary>
    public static bool Verify(string password, string hash) => Verify(Encoding.UTF8.GetBytes(password), hash);

    /// <summary>As <see cref="Verify(string, string)"/>, for a password that is bytes rather than UTF-8 text.</summary>
    public static bool Verify(byte[] password, string hash)
    {
        if (!TryParse(hash, out var version, out var cost, out var salt)) return false;
        var computed = Hash(password, version, cost, salt);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(hash));
    }

    /// <summary>The full hash string, <c>$2y$10$&lt;22 salt&gt;&lt;31 hash&gt;</c>.</summary>
    public static string Hash(byte[] bytes, char version, int cost, byte[] salt)
    {
        // The key is the password's bytes and its terminating NUL, at most 72 bytes of password.
        var key = new byte[Math.Min(bytes.Length, 72) + 1];
        bytes.AsSpan(0, key.Length - 1).CopyTo(key);

        var state = BlowfishPi.InitialState();
        ExpandKey(state, salt, key);
        for (long round = 1L << cost; round > 0; round--)
        {
            ExpandKey(state, null, key);
            ExpandKey(state, null, salt);
        }
        Span<uint> text = stackalloc uint[6];
        for (var i = 0; i < 6; i++) text[i] = BinaryPrimitives.ReadUInt32BigEndian(MagicText.AsSpan(4 * i));
        for (var n = 0; n < 64; n++)
            for (var i = 0; i < 6; i += 2) Encipher(state, ref text[i], ref text[i + 1]);
        var output = new byte[24];
        for (var i = 0; i < 6; i++) BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(4 * i), text[i]);
        return $"$2{version}${cost:D2}${Encode(salt, 16)}{Encode(output, 23)}";
    }

    private static bool TryParse(string hash, out char version, out int cost, out byte[] salt)
    {
        version = '\0';
        cost = 0;
        salt = [];
        if (hash.Length != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$') return false;
        version = hash[2];
        if (version is not ('a' or 'b' or 'y')) return false;
        if (!char.IsAsciiDigit(hash[4]) || !char.IsAsciiDigit(hash[5])) return false;
        cost = (hash[4] - '0') * 10 + (hash[5] - '0');
        if (cost is < MinCost or > MaxCost) return false;
        if (hash.AsSpan(7).ContainsAnyExcept(AlphabetValues)) return false;
        salt = Decode(hash.AsSpan(7, 22), 16);
        return true;
    }

    /// <summary>One Blowfish key expansion; with a salt it is XORed into the data words (EksBlowfish's ExpandKey).</summary>
    private static void ExpandKey(uint[] state, byte[]? salt, byte[] key)
    {
        var k = 0;
        for (var i = 0; i < 18; i++) state[i] ^= StreamWord(key, ref k);
        uint left = 0, right = 0;
        var s = 0;
        for (var i = 0; i < state.Length; i += 2)
        {
            if (salt is not null)
            {
                left ^= StreamWord(salt, ref s);
                right ^= StreamWord(salt, ref s);
            }
            Encipher(state, ref left, ref right);
            state[i] = left;
            state[i + 1] = right;
        }
    }

    /// <summary>The next four bytes of <paramref name="data"/>, big-endian, wrapping around at its end.</summary>
    private static uint StreamWord(byte[] data, ref int position)
    {
        uint word = 0;
        for (var i = 0; i < 4; i++)
        {
            word = (word << 8) | data[position];
            position = (position + 1) % data.Length;
        }
        return word;
    }

    private static void Encipher(uint[] state, ref uint left, ref uint right)
    {
        uint l = left, r = right;
        l ^= state[0];
        for (var i = 1; i <= 16; i += 2)
        {
            r ^= F(state, l) ^ state[i];
            l ^= F(state, r) ^ state[i + 1];
        }
        left = r ^ state[17];
        right = l;
    }

    private static uint F(uint[] state, uint x) =>
        ((state[18 + (x >> 24)] + state[18 + 256 + ((x >> 16) & 0xFF)]) ^ state[18 + 512 + ((x >> 8) & 0xFF)]) + state[18 + 768 + (x & 0xFF)];

    /// <summary>bcrypt's base64: its own alphabet, no padding, <paramref name="length"/> bytes.</summary>
    private static string Encode(byte[] data, int length)
    {
        var text = new StringBuilder();
        for (var i = 0; i < length; i += 3)
        {
            var c1 = data[i];
            text.Append(Alphabet[c1 >> 2]);
            var c2 = i + 1 < length ? data[i + 1] : 0;
            text.Append(Alphabet[((c1 & 0x03) << 4) | (c2 >> 4)]);
            if (i + 1 >= length) break;
            var c3 = i + 2 < length ? data[i + 2] : 0;
            text.Append(Alphabet[((c2 & 0x0F) << 2) | (c3 >> 6)]);
            if (i + 2 >= length) break;
            text.Append(Alphabet[c3 & 0x3F]);
        }
        return text.ToString();
    }

    private static byte[] Decode(ReadOnlySpan<char> text, int length)
    {
        var bytes = new byte[length];
        var bits = 0;
        var buffer = 0;
        var n = 0;
        foreach (var c in text)
        {
            buffer = (buffer << 6) | Alphabet.IndexOf(c, StringComparison.Ordinal);
            bits += 6;
            if (bits < 8) continue;
            bits -= 8;
            if (n < length) bytes[n++] = (byte)(buffer >> bits);
            buffer &= (1 << bits) - 1;
        }
        return bytes;
    }
}

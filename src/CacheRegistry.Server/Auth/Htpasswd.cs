namespace CacheRegistry.Server.Auth;

/// <summary>
/// An htpasswd file's bcrypt entries by user. Other hash kinds (Apache MD5, SHA-1, crypt) are
/// skipped with a reason, as distribution does: they are too weak to accept. So are bcrypt entries
/// above <see cref="MaxCost"/>: one of them (cost 31 takes days) would hold a verification slot
/// for as long as it runs, and a few requests for that user would lock everyone out.
/// </summary>
internal sealed class Htpasswd
{
    /// <summary>The highest bcrypt cost accepted: one verification takes 0.25 s at 12 here (3 ms at htpasswd's default 5), and doubles with each step.</summary>
    public const int MaxCost = 12;

    private readonly Dictionary<string, string> _hashes;
    private readonly Lazy<string> _dummy;

    private Htpasswd(Dictionary<string, string> hashes, IReadOnlyList<string> skipped)
    {
        _hashes = hashes;
        Skipped = skipped;
        // Unknown users are checked against a hash of the cost most of the file's entries have, so
        // they take as long as known ones and the time of a wrong login does not tell who exists.
        var cost = hashes.Count == 0 ? 5 : hashes.Values.GroupBy(Bcrypt.Cost).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        _dummy = new Lazy<string>(() => BCrypt.Net.BCrypt.HashPassword(Guid.NewGuid().ToString("N"), cost));
    }

    public IReadOnlyList<string> Skipped { get; }
    public int Count => _hashes.Count;

    /// <summary>A hash no password matches, of the cost the file's entries mostly have: for users the file does not have.</summary>
    public string DummyHash => _dummy.Value;

    public static Htpasswd Parse(IEnumerable<string> lines)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var skipped = new List<string>();
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                skipped.Add($"line {number}: expected user:hash");
                continue;
            }
            var (user, hash) = (line[..colon], line[(colon + 1)..]);
            if (!Bcrypt.IsBcrypt(hash))
                skipped.Add($"line {number} (user {user}): not a bcrypt hash; make it with htpasswd -B");
            else if (Bcrypt.Cost(hash) > MaxCost)
                skipped.Add($"line {number} (user {user}): bcrypt cost {Bcrypt.Cost(hash)} is above the {MaxCost} this cache accepts (each login would take minutes or more); make it again with htpasswd -B -C {MaxCost} or less");
            else if (!hashes.TryAdd(user, hash))
                skipped.Add($"line {number}: user {user} appears twice; the first entry counts");
        }
        return new Htpasswd(hashes, skipped);
    }

    /// <summary>The user's bcrypt hash, or null for a user the file does not have.</summary>
    public string? HashOf(string user) => _hashes.GetValueOrDefault(user);
}

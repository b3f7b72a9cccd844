namespace CacheRegistry.Server.Auth;

/// <summary>
/// An htpasswd file's bcrypt entries by user. Other hash kinds (Apache MD5, SHA-1, crypt) are
/// skipped with a reason, as distribution does: they are too weak to accept.
/// </summary>
internal sealed class Htpasswd
{
    private readonly Dictionary<string, string> _hashes;

    private Htpasswd(Dictionary<string, string> hashes, IReadOnlyList<string> skipped)
    {
        _hashes = hashes;
        Skipped = skipped;
    }

    public IReadOnlyList<string> Skipped { get; }
    public int Count => _hashes.Count;

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
            else if (!hashes.TryAdd(user, hash))
                skipped.Add($"line {number}: user {user} appears twice; the first entry counts");
        }
        return new Htpasswd(hashes, skipped);
    }

    /// <summary>The user's bcrypt hash, or null for a user the file does not have.</summary>
    public string? HashOf(string user) => _hashes.GetValueOrDefault(user);
}

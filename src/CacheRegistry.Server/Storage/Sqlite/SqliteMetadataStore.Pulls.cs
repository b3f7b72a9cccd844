using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Sqlite;

// Pulled tags and their availability checks: one row per repository and tag.
internal sealed partial class SqliteMetadataStore
{
    public Task RecordPullsAsync(IReadOnlyCollection<KeyValuePair<(string Repository, string Tag), DateTimeOffset>> pulls, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var tx = db.BeginTransaction();
        foreach (var ((repository, tag), at) in pulls)
        {
            using var cmd = Command(db, """
                INSERT INTO pulls (repository, tag, last_pulled) VALUES ($r, $t, $p)
                ON CONFLICT (repository, tag) DO UPDATE SET last_pulled = max(last_pulled, excluded.last_pulled)
                """, ("$r", repository), ("$t", tag), ("$p", at.ToUnixTimeMilliseconds()));
            cmd.Transaction = tx;
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return pulls.Count;
    });

    public Task<IReadOnlyList<PulledTag>> PulledSinceAsync(DateTimeOffset since, CancellationToken ct) => _circuit.Run<IReadOnlyList<PulledTag>>(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT repository, tag, last_pulled, checked_at, outcome, detail FROM pulls WHERE last_pulled >= $s ORDER BY repository, tag",
            ("$s", since.ToUnixTimeMilliseconds()));
        using var reader = cmd.ExecuteReader();
        var pulled = new List<PulledTag>();
        while (reader.Read())
            pulled.Add(new PulledTag(reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                reader.IsDBNull(3) ? null : new AvailabilityCheck(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5))));
        return pulled;
    });

    public Task RecordCheckAsync(string repository, string tag, AvailabilityCheck check, CancellationToken ct) => Run(
        "UPDATE pulls SET checked_at = $c, outcome = $o, detail = $d WHERE repository = $r AND tag = $t",
        ("$c", check.CheckedAt.ToUnixTimeMilliseconds()), ("$o", check.Outcome), ("$d", (object?)check.Detail ?? DBNull.Value), ("$r", repository), ("$t", tag));
}

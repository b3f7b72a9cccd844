using System.Runtime.CompilerServices;
using CacheRegistry.Oci;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Sqlite;

// The blob index, catalog and ledger of the embedded store.
internal sealed partial class SqliteMetadataStore
{
    private const int ManifestPage = 500;

    public Task RecordBlobAsync(Digest digest, long size, DateTimeOffset at, CancellationToken ct) => Run("""
        INSERT INTO blobs (digest, size, last_access) VALUES ($d, $s, $a)
        ON CONFLICT (digest) DO UPDATE SET size = excluded.size, last_access = max(last_access, excluded.last_access)
        """, ("$d", digest.ToString()), ("$s", size), ("$a", at.ToUnixTimeMilliseconds()));

    public Task<long?> RecordedSizeAsync(Digest digest, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT size FROM blobs WHERE digest = $d", ("$d", digest.ToString()));
        return cmd.ExecuteScalar() is long size ? (long?)size : null;
    });

    public Task TouchBlobsAsync(IReadOnlyCollection<KeyValuePair<Digest, DateTimeOffset>> accesses, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var tx = db.BeginTransaction();
        using var cmd = Command(db, "UPDATE blobs SET last_access = max(last_access, $a) WHERE digest = $d", ("$a", 0L), ("$d", ""));
        cmd.Transaction = tx;
        foreach (var (digest, at) in accesses)
        {
            cmd.Parameters["$a"].Value = at.ToUnixTimeMilliseconds();
            cmd.Parameters["$d"].Value = digest.ToString();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return true;
    });

    public Task<IReadOnlyList<BlobRecord>> OldestBlobsAsync(int limit, int skip, CancellationToken ct) => _circuit.Run<IReadOnlyList<BlobRecord>>(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT digest, size, last_access FROM blobs ORDER BY last_access, digest LIMIT $l OFFSET $o", ("$l", limit), ("$o", skip));
        using var reader = cmd.ExecuteReader();
        var list = new List<BlobRecord>();
        while (reader.Read())
            list.Add(new BlobRecord(Digest.Parse(reader.GetString(0)), reader.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        return list;
    });

    public Task<(long Count, long Bytes)> TotalsAsync(CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT count(*), coalesce(sum(size), 0) FROM blobs");
        using var reader = cmd.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    });

    public Task ForgetBlobAsync(Digest digest, CancellationToken ct) => Run("DELETE FROM blobs WHERE digest = $d", ("$d", digest.ToString()));

    public Task<IReadOnlyList<string>> RepositoriesLinkingAsync(Digest digest, CancellationToken ct) =>
        Strings("SELECT repository FROM links WHERE digest = $d ORDER BY repository", ("$d", digest.ToString()));

    /// <summary>Page by page, so no read transaction stays open for the whole walk.</summary>
    public async IAsyncEnumerable<StoredManifest> AllManifestsAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var after = "";
        while (true)
        {
            var page = await _circuit.Run(() =>
            {
                using var db = Open();
                using var cmd = Command(db, "SELECT digest, media_type, content FROM manifests WHERE digest > $a ORDER BY digest LIMIT $l", ("$a", after), ("$l", ManifestPage));
                using var reader = cmd.ExecuteReader();
                var list = new List<StoredManifest>();
                while (reader.Read()) list.Add(new StoredManifest(Digest.Parse(reader.GetString(0)), reader.GetString(1), (byte[])reader.GetValue(2)));
                return list;
            });
            foreach (var m in page)
            {
                ct.ThrowIfCancellationRequested();
                yield return m;
            }
            if (page.Count < ManifestPage) yield break;
            after = page[^1].DigestText;
        }
    }

    public Task<IReadOnlyList<string>> ListRepositoriesAsync(CancellationToken ct) =>
        Strings("SELECT DISTINCT repository FROM tags UNION SELECT DISTINCT repository FROM links ORDER BY 1");

    public Task DeleteTagAsync(string repository, string tag, CancellationToken ct) =>
        Run("DELETE FROM tags WHERE repository = $r AND tag = $t", ("$r", repository), ("$t", tag));

    public Task UnlinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var tx = db.BeginTransaction();
        using var cmd = Command(db, "DELETE FROM links WHERE repository = $r AND digest = $d", ("$r", repository), ("$d", ""));
        cmd.Transaction = tx;
        foreach (var d in digests)
        {
            cmd.Parameters["$d"].Value = d.ToString();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return true;
    });

    public Task DeleteManifestAsync(Digest digest, CancellationToken ct) =>
        Run("DELETE FROM manifests WHERE digest = $d", ("$d", digest.ToString()));

    public Task AppendAsync(LedgerEntry entry, CancellationToken ct) => Run("""
        INSERT INTO ledger (time, upstream, repository, tag, digest, media_type, size, endpoint, subject, artifact_type, policy, verification, signed_by)
        VALUES ($t, $u, $r, $g, $d, $m, $s, $e, $j, $a, $p, $v, $k)
        """, ("$t", entry.Time.ToUnixTimeMilliseconds()), ("$u", entry.Upstream), ("$r", entry.Repository), ("$g", (object?)entry.Tag ?? DBNull.Value),
        ("$d", entry.Digest.ToString()), ("$m", entry.MediaType), ("$s", entry.Size), ("$e", entry.Endpoint),
        ("$j", (object?)entry.Subject?.ToString() ?? DBNull.Value), ("$a", (object?)entry.ArtifactType ?? DBNull.Value),
        ("$p", (object?)entry.Check?.Policy ?? DBNull.Value), ("$v", (object?)entry.Check?.Result ?? DBNull.Value), ("$k", (object?)entry.Check?.Key ?? DBNull.Value));

    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(DateTimeOffset? since, int limit, CancellationToken ct) => _circuit.Run<IReadOnlyList<LedgerEntry>>(() =>
    {
        using var db = Open();
        using var cmd = Command(db, """
            SELECT time, upstream, repository, tag, digest, media_type, size, endpoint, subject, artifact_type, policy, verification, signed_by FROM ledger
            WHERE time >= $since ORDER BY id LIMIT $l
            """, ("$since", since?.ToUnixTimeMilliseconds() ?? 0L), ("$l", limit));
        using var reader = cmd.ExecuteReader();
        var list = new List<LedgerEntry>();
        while (reader.Read())
            list.Add(new LedgerEntry(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), Digest.Parse(reader.GetString(4)), reader.GetString(5), reader.GetInt64(6), reader.GetString(7),
                reader.IsDBNull(8) ? null : Digest.Parse(reader.GetString(8)), reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.IsDBNull(10) ? null : new SignatureCheck(reader.GetString(10), reader.GetString(11), reader.IsDBNull(12) ? null : reader.GetString(12))));
        return list;
    });
}

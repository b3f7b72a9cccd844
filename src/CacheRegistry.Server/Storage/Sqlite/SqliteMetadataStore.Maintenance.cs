using System.Runtime.CompilerServices;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace CacheRegistry.Server.Storage.Sqlite;

// The blob index, catalog and ledger of the embedded store.
public sealed partial class SqliteMetadataStore
{
    public Task RecordBlobAsync(Digest digest, long size, DateTimeOffset at, CancellationToken ct)
    {
        using var db = Open();
        using var cmd = Command(db, """
            INSERT INTO blobs (digest, size, last_access) VALUES ($d, $s, $a)
            ON CONFLICT (digest) DO UPDATE SET size = excluded.size, last_access = max(last_access, excluded.last_access)
            """, ("$d", digest.ToString()), ("$s", size), ("$a", at.ToUnixTimeMilliseconds()));
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    public Task TouchBlobsAsync(IReadOnlyCollection<KeyValuePair<Digest, DateTimeOffset>> accesses, CancellationToken ct)
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
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<BlobRecord>> OldestBlobsAsync(int limit, int skip, CancellationToken ct)
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT digest, size, last_access FROM blobs ORDER BY last_access, digest LIMIT $l OFFSET $o", ("$l", limit), ("$o", skip));
        using var reader = cmd.ExecuteReader();
        var list = new List<BlobRecord>();
        while (reader.Read())
            list.Add(new BlobRecord(Digest.Parse(reader.GetString(0)), reader.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        return Task.FromResult<IReadOnlyList<BlobRecord>>(list);
    }

    public Task<(long Count, long Bytes)> TotalsAsync(CancellationToken ct)
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT count(*), coalesce(sum(size), 0) FROM blobs");
        using var reader = cmd.ExecuteReader();
        reader.Read();
        return Task.FromResult((reader.GetInt64(0), reader.GetInt64(1)));
    }

    public Task ForgetBlobAsync(Digest digest, CancellationToken ct)
    {
        using var db = Open();
        using var cmd = Command(db, "DELETE FROM blobs WHERE digest = $d", ("$d", digest.ToString()));
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> RepositoriesLinkingAsync(Digest digest, CancellationToken ct) =>
        Task.FromResult(Strings("SELECT repository FROM links WHERE digest = $d ORDER BY repository", ("$d", digest.ToString())));

    public async IAsyncEnumerable<StoredManifest> AllManifestsAsync([EnumeratorCancellation] CancellationToken ct)
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT digest, media_type, content FROM manifests");
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            ct.ThrowIfCancellationRequested();
            yield return new StoredManifest(Digest.Parse(reader.GetString(0)), reader.GetString(1), (byte[])reader.GetValue(2));
        }
        await Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> ListRepositoriesAsync(CancellationToken ct) =>
        Task.FromResult(Strings("SELECT DISTINCT repository FROM tags UNION SELECT DISTINCT repository FROM links ORDER BY 1"));

    public Task DeleteTagAsync(string repository, string tag, CancellationToken ct) =>
        Run("DELETE FROM tags WHERE repository = $r AND tag = $t", ("$r", repository), ("$t", tag));

    public Task UnlinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct)
    {
        foreach (var d in digests) Run("DELETE FROM links WHERE repository = $r AND digest = $d", ("$r", repository), ("$d", d.ToString()));
        return Task.CompletedTask;
    }

    public Task DeleteManifestAsync(Digest digest, CancellationToken ct) =>
        Run("DELETE FROM manifests WHERE digest = $d", ("$d", digest.ToString()));

    public Task AppendAsync(LedgerEntry entry, CancellationToken ct) => Run("""
        INSERT INTO ledger (time, upstream, repository, tag, digest, media_type, size, endpoint)
        VALUES ($t, $u, $r, $g, $d, $m, $s, $e)
        """, ("$t", entry.Time.ToUnixTimeMilliseconds()), ("$u", entry.Upstream), ("$r", entry.Repository), ("$g", (object?)entry.Tag ?? DBNull.Value),
        ("$d", entry.Digest.ToString()), ("$m", entry.MediaType), ("$s", entry.Size), ("$e", entry.Endpoint));

    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(DateTimeOffset? since, int limit, CancellationToken ct)
    {
        using var db = Open();
        using var cmd = Command(db, """
            SELECT time, upstream, repository, tag, digest, media_type, size, endpoint FROM ledger
            WHERE time >= $since ORDER BY id LIMIT $l
            """, ("$since", since?.ToUnixTimeMilliseconds() ?? 0L), ("$l", limit));
        using var reader = cmd.ExecuteReader();
        var list = new List<LedgerEntry>();
        while (reader.Read())
            list.Add(new LedgerEntry(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), Digest.Parse(reader.GetString(4)), reader.GetString(5), reader.GetInt64(6), reader.GetString(7)));
        return Task.FromResult<IReadOnlyList<LedgerEntry>>(list);
    }

    private Task Run(string sql, params (string Name, object Value)[] parameters)
    {
        using var db = Open();
        using var cmd = Command(db, sql, parameters);
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    private IReadOnlyList<string> Strings(string sql, params (string Name, object Value)[] parameters)
    {
        using var db = Open();
        using var cmd = Command(db, sql, parameters);
        using var reader = cmd.ExecuteReader();
        var list = new List<string>();
        while (reader.Read()) list.Add(reader.GetString(0));
        return list;
    }
}

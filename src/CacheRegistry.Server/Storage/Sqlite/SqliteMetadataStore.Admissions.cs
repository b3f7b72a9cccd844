using CacheRegistry.Oci;
using CacheRegistry.Storage;

namespace CacheRegistry.Server.Storage.Sqlite;

// Signature policies' admissions: one row per scope (policy and repository) and digest.
internal sealed partial class SqliteMetadataStore
{
    public Task<Admission?> GetAdmissionAsync(string scope, Digest digest, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT how, key, at FROM admissions WHERE scope = $s AND digest = $d", ("$s", scope), ("$d", digest.ToString()));
        using var reader = cmd.ExecuteReader();
        return reader.Read()
            ? new Admission(digest, reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)))
            : null;
    });

    public Task AdmitAsync(string scope, IReadOnlyCollection<Admission> admissions, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var tx = db.BeginTransaction();
        // An existing row stays: the first reason a digest was admitted is the one kept.
        using var cmd = Command(db, "INSERT OR IGNORE INTO admissions (scope, digest, how, key, at) VALUES ($s, $d, $h, $k, $a)",
            ("$s", scope), ("$d", ""), ("$h", ""), ("$k", DBNull.Value), ("$a", 0L));
        cmd.Transaction = tx;
        foreach (var a in admissions)
        {
            cmd.Parameters["$d"].Value = a.Digest.ToString();
            cmd.Parameters["$h"].Value = a.How;
            cmd.Parameters["$k"].Value = (object?)a.Key ?? DBNull.Value;
            cmd.Parameters["$a"].Value = a.At.ToUnixTimeMilliseconds();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return true;
    });
}

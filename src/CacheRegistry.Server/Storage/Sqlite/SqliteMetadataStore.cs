using CacheRegistry.Oci;
using CacheRegistry.Storage;
using Microsoft.Data.Sqlite;

namespace CacheRegistry.Server.Storage.Sqlite;

/// <summary>
/// Tags, manifests and repository links in one SQLite file (WAL mode) under the data dir. Every
/// call goes through the store's circuit: a busy or failing database (locked by another process,
/// disk full, read-only, I/O errors) answers 503 naming it instead of 500, and is skipped until a
/// probe finds it working again.
/// </summary>
internal sealed partial class SqliteMetadataStore : IMetadataStore, IBlobIndex, IMetadataCatalog, ILedger, IPullHistory, IAdmissions, IHealthProbe, IDisposable
{
    private readonly string _connectionString;
    private readonly TimeProvider _time;
    private readonly StoreCircuit _circuit;

    public SqliteMetadataStore(string dataDir, StoreHealth? health = null)
    {
        health ??= StoreHealth.Default;
        _time = health.Time;
        Directory.CreateDirectory(dataDir);
        var path = Path.Combine(dataDir, "metadata.db");
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Pooling = true,
            // How long a statement waits for a lock held by another connection or process.
            DefaultTimeout = Math.Max(1, (int)health.CallTimeout.TotalSeconds),
        }.ToString();
        Name = $"metadata (sqlite {path})";
        _circuit = new StoreCircuit(Name, ct => Task.Run(() => Execute("BEGIN IMMEDIATE; ROLLBACK;"), ct), e => e is SqliteException, health);
        using var db = Open();
        Execute(db, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS tags (repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
                fetched_at INTEGER NOT NULL, PRIMARY KEY (repository, tag)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS manifests (digest TEXT PRIMARY KEY, media_type TEXT NOT NULL,
                content BLOB NOT NULL, stored_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS links (repository TEXT NOT NULL, digest TEXT NOT NULL,
                PRIMARY KEY (repository, digest)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS links_by_digest ON links (digest);
            CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, last_access INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS blobs_by_access ON blobs (last_access);
            CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, upstream TEXT NOT NULL,
                repository TEXT NOT NULL, tag TEXT, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL, endpoint TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS pulls (repository TEXT NOT NULL, tag TEXT NOT NULL, last_pulled INTEGER NOT NULL,
                checked_at INTEGER, outcome TEXT, detail TEXT, PRIMARY KEY (repository, tag)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS pulls_by_time ON pulls (last_pulled);
            CREATE TABLE IF NOT EXISTS admissions (scope TEXT NOT NULL, digest TEXT NOT NULL, how TEXT NOT NULL, key TEXT, at INTEGER NOT NULL,
                PRIMARY KEY (scope, digest)) WITHOUT ROWID;
            """);
        // Columns added after the first release: a data dir from before gains them in place.
        foreach (var column in new[] { "subject", "artifact_type", "policy", "verification", "signed_by" })
            if (!HasColumn(db, "ledger", column)) Execute(db, $"ALTER TABLE ledger ADD COLUMN {column} TEXT");
    }

    public string Name { get; }

    public Task<TagRecord?> GetTagAsync(string repository, string tag, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT digest, fetched_at FROM tags WHERE repository = $r AND tag = $t", ("$r", repository), ("$t", tag));
        using var reader = cmd.ExecuteReader();
        return reader.Read()
            ? new TagRecord(Digest.Parse(reader.GetString(0)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)))
            : null;
    });

    public Task PutTagAsync(string repository, string tag, TagRecord record, CancellationToken ct) => Run("""
        INSERT INTO tags (repository, tag, digest, fetched_at) VALUES ($r, $t, $d, $f)
        ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, fetched_at = excluded.fetched_at
        """, ("$r", repository), ("$t", tag), ("$d", record.Digest.ToString()), ("$f", record.FetchedAt.ToUnixTimeMilliseconds()));

    public Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken ct) =>
        Strings("SELECT tag FROM tags WHERE repository = $r ORDER BY tag", ("$r", repository));

    public Task<StoredManifest?> GetManifestAsync(Digest digest, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT media_type, content FROM manifests WHERE digest = $d", ("$d", digest.ToString()));
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? new StoredManifest(digest, reader.GetString(0), (byte[])reader.GetValue(1)) : null;
    });

    public Task PutManifestAsync(StoredManifest manifest, CancellationToken ct) =>
        Run("INSERT OR IGNORE INTO manifests (digest, media_type, content, stored_at) VALUES ($d, $m, $c, $s)",
            ("$d", manifest.Digest.ToString()), ("$m", manifest.MediaType), ("$c", manifest.Content), ("$s", _time.GetUtcNow().ToUnixTimeMilliseconds()));

    public Task LinkAsync(string repository, IReadOnlyCollection<Digest> digests, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var tx = db.BeginTransaction();
        using var cmd = Command(db, "INSERT OR IGNORE INTO links (repository, digest) VALUES ($r, $d)", ("$r", repository), ("$d", ""));
        cmd.Transaction = tx;
        foreach (var d in digests.Distinct())
        {
            cmd.Parameters["$d"].Value = d.ToString();
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return true;
    });

    public Task<bool> IsLinkedAsync(string repository, Digest digest, CancellationToken ct) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, "SELECT 1 FROM links WHERE repository = $r AND digest = $d", ("$r", repository), ("$d", digest.ToString()));
        return cmd.ExecuteScalar() is not null;
    });

    public Task<string?> CheckAsync(CancellationToken ct) => _circuit.CheckAsync(ct);

    /// <summary>Closes pooled connections, so the file is released when the host stops.</summary>
    public void Dispose()
    {
        using var db = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(db);
    }

    private SqliteConnection Open()
    {
        var db = new SqliteConnection(_connectionString);
        db.Open();
        return db;
    }

    private static SqliteCommand Command(SqliteConnection db, string sql, params (string Name, object Value)[] parameters)
    {
        var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        return cmd;
    }

    private void Execute(string sql)
    {
        using var db = Open();
        Execute(db, sql);
    }

    private static bool HasColumn(SqliteConnection db, string table, string column)
    {
        using var cmd = Command(db, $"SELECT 1 FROM pragma_table_info('{table}') WHERE name = $c", ("$c", column));
        return cmd.ExecuteScalar() is not null;
    }

    private static void Execute(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private Task<int> Run(string sql, params (string Name, object Value)[] parameters) => _circuit.Run(() =>
    {
        using var db = Open();
        using var cmd = Command(db, sql, parameters);
        return cmd.ExecuteNonQuery();
    });

    private Task<IReadOnlyList<string>> Strings(string sql, params (string Name, object Value)[] parameters) => _circuit.Run<IReadOnlyList<string>>(() =>
    {
        using var db = Open();
        using var cmd = Command(db, sql, parameters);
        using var reader = cmd.ExecuteReader();
        var list = new List<string>();
        while (reader.Read()) list.Add(reader.GetString(0));
        return list;
    });
}

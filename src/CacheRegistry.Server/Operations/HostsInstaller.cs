namespace CacheRegistry.Server.Operations;

/// <summary>
/// Writes containerd hosts.toml files into a node's certs.d folder (the Helm chart's node
/// DaemonSet runs it) and, when told to stop, takes back exactly what it wrote: a file it wrote
/// and nobody changed since is removed (or the one it replaced is put back), a folder it made is
/// removed when empty, and nothing else is touched.
/// </summary>
internal sealed class HostsInstaller(string root)
{
    private readonly List<(string Path, string Content, string? Previous, string? CreatedFolder)> _written = [];

    public IReadOnlyList<string> Written => [.. _written.Select(w => w.Path)];

    public void Install(IEnumerable<(string Host, string Content)> files)
    {
        foreach (var (host, content) in files)
        {
            // Host names come from the configuration; none may step out of the folder.
            if (host.Length == 0 || host.Contains('/') || host.Contains('\\') || host.StartsWith('.'))
                throw new InvalidOperationException($"'{host}' cannot be a folder name under {root}");
            var folder = Path.Combine(root, host);
            var created = Directory.Exists(folder) ? null : folder;
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, "hosts.toml");
            var previous = File.Exists(path) ? File.ReadAllText(path) : null;
            if (previous == content) continue; // already so: not ours to take back
            WriteAtomically(path, content);
            _written.Add((path, content, previous, created));
        }
    }

    /// <summary>Takes back what <see cref="Install"/> wrote; returns the files it changed back.</summary>
    public IReadOnlyList<string> Remove()
    {
        var removed = new List<string>();
        foreach (var (path, content, previous, createdFolder) in Enumerable.Reverse(_written))
        {
            if (!File.Exists(path) || File.ReadAllText(path) != content) continue; // someone else's now
            if (previous is null) File.Delete(path);
            else WriteAtomically(path, previous);
            removed.Add(path);
            if (createdFolder is not null && !Directory.EnumerateFileSystemEntries(createdFolder).Any()) Directory.Delete(createdFolder);
        }
        _written.Clear();
        return removed;
    }

    // containerd reads hosts.toml at each pull: it must never see half a file.
    private static void WriteAtomically(string path, string content)
    {
        var temporary = path + ".cacheregistry-tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }
}

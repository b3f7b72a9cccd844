namespace CacheRegistry.Storage;

/// <summary>Leftovers of fills that a crash interrupted.</summary>
public static class SpoolFiles
{
    /// <summary>Deletes files in <paramref name="dir"/> last written more than <paramref name="olderThan"/> ago.</summary>
    public static int RemoveOlderThan(string dir, TimeSpan olderThan)
    {
        if (!Directory.Exists(dir)) return 0;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(dir))
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(file) > olderThan)
            {
                File.Delete(file);
                removed++;
            }
        return removed;
    }
}

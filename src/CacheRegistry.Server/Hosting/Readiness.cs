using CacheRegistry.Server.Storage;

namespace CacheRegistry.Server.Hosting;

/// <summary>/readyz: 200 when the stores answer, 503 naming the one that does not.</summary>
public static class Readiness
{
    public static IResult CheckAsync(SqliteMetadataStore metadata, RegistryOptions options)
    {
        var failures = new List<string>();
        try
        {
            metadata.Ping();
        }
        catch (Exception e)
        {
            failures.Add($"metadata (sqlite): {e.Message}");
        }
        try
        {
            var probe = Path.Combine(options.DataDir, "tmp", ".ready-" + Guid.NewGuid().ToString("N"));
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e)
        {
            failures.Add($"blobs (filesystem {options.DataDir}): {e.Message}");
        }
        return failures.Count == 0
            ? Results.Text("ready\n")
            : Results.Text("not ready: " + string.Join("; ", failures) + "\n", statusCode: 503);
    }
}

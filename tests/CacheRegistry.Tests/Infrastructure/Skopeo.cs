using System.Security.Cryptography;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>skopeo as a real client of the cache.</summary>
public static class Skopeo
{
    /// <summary>Copies an image (all platforms) into a dir: layout and returns the digest of its top manifest.</summary>
    public static async Task<string> PullAsync(string registryAddress, string reference, bool all = true, TimeSpan? timeout = null, string? creds = null)
    {
        var dir = Net.TempDir("skopeo");
        try
        {
            await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("skopeo"),
                ["copy", .. (all ? new[] { "--all" } : []), .. (creds is null ? Array.Empty<string>() : ["--src-creds", creds]), "--quiet", "--src-tls-verify=false", $"docker://{registryAddress}/{reference}", $"dir:{dir}"], timeout);
            return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(dir, "manifest.json"))));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>htpasswd files made by Apache's htpasswd -B (bcrypt, cost 5 to keep the suite quick), as operators make them.</summary>
public static class HtpasswdFile
{
    public static async Task<string> CreateAsync(params (string User, string Password)[] users)
    {
        var file = Path.Combine(Net.TempDir("htpasswd"), "htpasswd");
        foreach (var (user, password) in users) await AddUserAsync(file, user, password);
        return file;
    }

    public static Task AddUserAsync(string file, string user, string password) =>
        ProcessRunner.RunCheckedAsync(ProcessRunner.Require("htpasswd"), [.. File.Exists(file) ? Array.Empty<string>() : ["-c"], "-bB", "-C", "5", file, user, password]);
}

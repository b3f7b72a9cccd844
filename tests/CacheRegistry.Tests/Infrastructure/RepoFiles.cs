namespace CacheRegistry.Tests.Infrastructure;

/// <summary>Files of this repository (compose file, deploy/), found from the test binary upwards.</summary>
public static class RepoFiles
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "CacheRegistry.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);
}

using System.Text.RegularExpressions;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Unit;

/// <summary>
/// docs/architecture.md: folders are namespaces, and no two of them depend on each other in a loop.
/// Read from the sources: a folder uses another when it has a using of it or names one of its types
/// qualified by the folder (<c>Upstream.UpstreamException</c>).
/// </summary>
public sealed partial class FolderDependencyTests
{
    [Theory]
    [InlineData("src/CacheRegistry.Core", "CacheRegistry")]
    [InlineData("src/CacheRegistry.Server", "CacheRegistry.Server")]
    public void No_two_folders_of_a_project_depend_on_each_other(string project, string rootNamespace)
    {
        var prefix = Regex.Escape(rootNamespace);
        // The root namespace's parts may be left out where the code already is inside them.
        var optionalPrefix = string.Concat(rootNamespace.Split('.').Select(part => $"(?:{part}\\.)?"));
        var root = RepoFiles.Path(project);
        var folders = Directory.GetDirectories(root).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).Cast<string>().ToList();
        var sources = folders.ToDictionary(f => f, f => Directory.GetFiles(Path.Combine(root, f), "*.cs", SearchOption.AllDirectories)
            .Select(p => Comment().Replace(File.ReadAllText(p), "")).ToList());
        var types = folders.ToDictionary(f => f, f => sources[f].SelectMany(s => TypeDeclaration().Matches(s).Select(m => m.Groups[1].Value)).ToHashSet());

        var uses = folders.ToDictionary(f => f, f => new HashSet<string>());
        foreach (var (folder, texts) in sources)
            foreach (var text in texts)
                foreach (var other in folders.Where(o => o != folder))
                {
                    var qualified = new Regex($@"(?<![\w.]){optionalPrefix}{other}\.(\w+)");
                    if (Regex.IsMatch(text, $@"using {prefix}\.{other};")
                        || qualified.Matches(text).Any(m => types[other].Contains(m.Groups[1].Value)))
                        uses[folder].Add(other);
                }

        var loops = folders.SelectMany(a => uses[a].Where(b => string.CompareOrdinal(a, b) < 0 && uses[b].Contains(a)).Select(b => $"{a} <-> {b}")).ToList();
        Assert.True(loops.Count == 0, "folders that depend on each other: " + string.Join(", ", loops));
    }

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex Comment();

    [GeneratedRegex(@"\b(?:class|record|interface|enum|struct)\s+(\w+)")]
    private static partial Regex TypeDeclaration();
}

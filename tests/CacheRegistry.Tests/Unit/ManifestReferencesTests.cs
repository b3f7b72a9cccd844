using System.Text;
using CacheRegistry.Cache;

namespace CacheRegistry.Tests.Unit;

public sealed class ManifestReferencesTests
{
    private static string D(char c) => "sha256:" + new string(c, 64);

    [Fact]
    public void Finds_config_layers_and_index_children()
    {
        var manifest = Encoding.UTF8.GetBytes($$$"""{"config":{"digest":"{{{D('a')}}}"},"layers":[{"digest":"{{{D('b')}}}"},{"digest":"bad"}]}""");
        Assert.Equal([D('a'), D('b')], ManifestReferences.Of(manifest).Select(d => d.ToString()));
        var index = Encoding.UTF8.GetBytes($$$"""{"manifests":[{"digest":"{{{D('c')}}}","platform":{"os":"linux","architecture":"arm64"}},{"digest":"{{{D('d')}}}","platform":{"os":"linux","architecture":"amd64"}}]}""");
        Assert.Equal([D('c'), D('d')], ManifestReferences.Of(index).Select(d => d.ToString()));
        Assert.Equal(D('d'), ManifestReferences.ChildFor(index, "linux", "amd64").ToString());
        Assert.Null(ManifestReferences.ChildFor(index, "windows", "amd64"));
        Assert.Empty(ManifestReferences.Of("not json"u8.ToArray()));
    }
}

using System.Text;
using CacheRegistry.Oci;

namespace CacheRegistry.Tests.Unit;

public sealed class ManifestDocumentTests
{
    private static string D(char c) => "sha256:" + new string(c, 64);

    private static ManifestDocument Parse(string json) => ManifestDocument.TryParse(Encoding.UTF8.GetBytes(json))!;

    [Fact]
    public void Finds_config_layers_and_index_children_with_sizes_and_platforms()
    {
        var manifest = Parse($$$"""{"schemaVersion":2,"config":{"digest":"{{{D('a')}}}","size":10},"layers":[{"digest":"{{{D('b')}}}","size":20},{"digest":"bad"}]}""");
        Assert.Equal([D('a'), D('b')], manifest.References.Select(d => d.ToString()));
        Assert.Equal(30, manifest.ContentSize);
        Assert.Equal(MediaTypes.OciManifest, manifest.MediaTypeFor("application/json"));

        var index = Parse($$$"""{"schemaVersion":2,"manifests":[{"digest":"{{{D('c')}}}","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},{"digest":"{{{D('d')}}}","platform":{"os":"linux","architecture":"amd64"}}]}""");
        Assert.Equal([D('c'), D('d')], index.References.Select(d => d.ToString()));
        Assert.Equal("linux/arm64/v8", index.Manifests[0].Platform);
        Assert.Equal(D('d'), index.ChildFor("linux", "amd64").ToString());
        Assert.Null(index.ChildFor("windows", "amd64"));
        Assert.Equal(MediaTypes.OciIndex, index.MediaTypeFor(""));
    }

    [Fact]
    public void Artifacts_subjects_and_schema1_are_references_too()
    {
        var artifact = Parse($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{"digest":"{{{D('a')}}}"},"layers":[],"subject":{"digest":"{{{D('e')}}}"}}""");
        Assert.Equal([D('a'), D('e')], artifact.References.Select(d => d.ToString()));
        Assert.Equal("application/vnd.example", artifact.ArtifactType);
        var schema1 = Parse($$$"""{"schemaVersion":1,"fsLayers":[{"blobSum":"{{{D('f')}}}"}]}""");
        Assert.Equal([D('f')], schema1.References.Select(d => d.ToString()));
        Assert.Equal(MediaTypes.DockerSchema1Signed, schema1.MediaTypeFor("text/plain"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"architecture\":\"amd64\",\"os\":\"linux\"}")]
    [InlineData("{\"schemaVersion\":\"two\"}")]
    public void What_is_not_a_manifest_is_not_parsed(string body) =>
        Assert.Null(ManifestDocument.TryParse(Encoding.UTF8.GetBytes(body)));
}

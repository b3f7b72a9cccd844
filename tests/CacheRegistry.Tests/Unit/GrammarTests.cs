using CacheRegistry.Oci;
using CacheRegistry.Routing;

namespace CacheRegistry.Tests.Unit;

public sealed class GrammarTests
{
    private const string Hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    [Theory]
    [InlineData("sha256:" + Hex, true)]
    [InlineData("sha256:" + Hex + "0", false)]
    [InlineData("sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", false)]
    [InlineData("sha512:" + Hex + Hex, true)]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", false)]
    [InlineData("sha256:", false)]
    [InlineData("sha256" + Hex, false)]
    [InlineData("sha256:" + Hex + "\n", false)]
    public void Digests_follow_the_grammar_and_supported_algorithms(string text, bool valid) =>
        Assert.Equal(valid, Digest.TryParse(text, out _));

    [Theory]
    [InlineData("nginx", true)]
    [InlineData("team/sub/app", true)]
    [InlineData("a.b_c__d---e/f", true)]
    [InlineData("Upper", false)]
    [InlineData("a..b", false)]
    [InlineData("a___b", false)]
    [InlineData("-a", false)]
    [InlineData("a/", false)]
    [InlineData("a//b", false)]
    [InlineData("a\n", false)]
    public void Names_follow_the_grammar(string name, bool valid) => Assert.Equal(valid, Grammar.IsValidName(name));

    [Fact]
    public void Names_are_at_most_255_characters() => Assert.False(Grammar.IsValidName(new string('a', 256)));

    [Theory]
    [InlineData("latest", true)]
    [InlineData("1.0-rc_1", true)]
    [InlineData(".hidden", false)]
    [InlineData("-x", false)]
    [InlineData("a/b", false)]
    public void Tags_follow_the_grammar(string tag, bool valid) => Assert.Equal(valid, Grammar.IsValidTag(tag));

    [Fact]
    public void Tags_are_at_most_128_characters()
    {
        Assert.True(Grammar.IsValidTag(new string('a', 128)));
        Assert.False(Grammar.IsValidTag(new string('a', 129)));
    }

    [Fact]
    public void Paths_are_parsed_from_the_end_so_names_may_contain_blobs_or_manifests()
    {
        var p = RegistryPath.Parse("team/blobs/manifests/manifests/v1");
        Assert.Equal((RequestKind.Manifest, "team/blobs/manifests", "v1"), (p.Kind, p.Name, p.Reference));
        var b = RegistryPath.Parse($"a/manifests/blobs/sha256:{Hex}");
        Assert.Equal((RequestKind.Blob, "a/manifests"), (b.Kind, b.Name));
        var t = RegistryPath.Parse("x/tags/list/tags/list");
        Assert.Equal((RequestKind.TagsList, "x/tags/list"), (t.Kind, t.Name));
        Assert.Equal(RequestKind.Base, RegistryPath.Parse("").Kind);
    }

    [Theory]
    [InlineData("x/blobs/notadigest", "DIGEST_INVALID")]
    [InlineData("X/manifests/v1", "NAME_INVALID")]
    [InlineData("x/manifests/-bad", "MANIFEST_UNKNOWN")]
    [InlineData("x/other/v1", "NAME_UNKNOWN")]
    [InlineData("justaname", "NAME_UNKNOWN")]
    public void Bad_paths_become_oci_errors(string path, string code) =>
        Assert.Equal(code, Assert.Throws<RegistryError>(() => RegistryPath.Parse(path)).Code);
}

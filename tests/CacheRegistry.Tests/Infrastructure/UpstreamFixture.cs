namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// One real upstream registry for the whole integration collection, seeded once with skopeo from
/// OCI layouts built here: a multi-arch OCI index under a nested name, a Docker schema 2 image with
/// a layer of tens of MB, a Docker manifest list, an image per real client, and signed images and
/// artifacts pushed over the API (<see cref="ArtifactSet"/>).
/// </summary>
public sealed class UpstreamFixture : IAsyncLifetime
{
    private readonly string _layouts = Net.TempDir("layouts");

    public UpstreamRegistry Upstream { get; } = new();
    public TestImage OciIndex { get; private set; } = null!;
    public TestImage DockerBig { get; private set; } = null!;
    public TestImage DockerList { get; private set; } = null!;
    public TestImage ForContainerd { get; private set; } = null!;
    public TestImage ForDocker { get; private set; } = null!;
    public TestImage Small { get; private set; } = null!;
    public ArtifactSet Artifacts { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Upstream.StartAsync();
        TestImage Build(string repo, string tag, ImageFormat format, string[] platforms, int[] sizes) =>
            TestImage.Build(repo, tag, format, platforms, sizes, Path.Combine(_layouts, repo.Replace('/', '_')));
        string[] multi = ["linux/amd64", "linux/arm64"];
        OciIndex = Build("team/sub/app", "1.0", ImageFormat.Oci, multi, [48 * 1024, 4 * 1024]);
        DockerBig = Build("library/big", "1", ImageFormat.Docker, ["linux/amd64"], [24 * 1024 * 1024, 8 * 1024]);
        DockerList = Build("library/dlist", "1", ImageFormat.Docker, multi, [16 * 1024]);
        ForContainerd = Build("library/ctr-img", "1", ImageFormat.Oci, multi, [256 * 1024, 4 * 1024]);
        ForDocker = Build("library/dockerd-img", "1", ImageFormat.Docker, multi, [256 * 1024, 4 * 1024]);
        Small = Build("library/small", "1", ImageFormat.Oci, ["linux/amd64"], [8 * 1024]);
        await Task.WhenAll(new[] { OciIndex, DockerBig, DockerList, ForContainerd, ForDocker, Small }.Select(i => i.PushAsync(Upstream.Address)));
        Artifacts = await ArtifactSet.PushAsync(Upstream.Url);
    }

    public async Task DisposeAsync()
    {
        await Upstream.DisposeAsync();
        Directory.Delete(_layouts, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class IntegrationCollection : ICollectionFixture<UpstreamFixture>, ICollectionFixture<BackendsFixture>
{
    public const string Name = "integration";
}

using System.Net.Http.Headers;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

[Collection(IntegrationCollection.Name)]
public sealed class SkopeoPullTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Multi_arch_oci_index_under_a_nested_name_pulls_with_identical_digests_and_second_pull_stays_local()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        var image = fx.OciIndex;

        var digest = await Skopeo.PullAsync(cache.Address, $"{image.Repository}:{image.Tag}");
        Assert.Equal(image.Digest, digest);
        Assert.Equal(image.Digest, await UpstreamDigestAsync(image));

        var mark = await fx.Upstream.MarkAsync();
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{image.Repository}:{image.Tag}"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));
        Assert.Empty(await fx.Upstream.RequestsSinceAsync(mark, "GET", $"/v2/{image.Repository}/manifests/"));
        Assert.Empty(await fx.Upstream.RequestsSinceAsync(mark, "HEAD", $"/v2/{image.Repository}/manifests/"));
    }

    [Fact]
    public async Task Docker_schema2_image_with_a_large_layer_pulls_byte_identical_and_each_blob_is_fetched_once()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        var image = fx.DockerBig;
        var mark = await fx.Upstream.MarkAsync();

        // "big" is an official-image name: the cache adds library/ like Docker Hub.
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, "big:1"));
        Assert.Equal(image.AllBlobs.Count(), await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));

        mark = await fx.Upstream.MarkAsync();
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{image.Repository}:{image.Tag}"));
        Assert.Equal(0, await fx.Upstream.BlobGetsSinceAsync(mark, image.Repository));
    }

    [Fact]
    public async Task Docker_manifest_list_passes_through_unchanged()
    {
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        var image = fx.DockerList;
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{image.Repository}:{image.Tag}"));

        using var http = Net.NewHttpClient();
        var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/{image.Repository}/manifests/{image.Tag}");
        request.Headers.Accept.ParseAdd(image.MediaType);
        using var response = await http.SendAsync(request);
        Assert.Equal(image.MediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(image.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
    }

    private async Task<string> UpstreamDigestAsync(TestImage image)
    {
        using var http = Net.NewHttpClient();
        var request = new HttpRequestMessage(HttpMethod.Head, $"{fx.Upstream.Url}/v2/{image.Repository}/manifests/{image.Tag}");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(image.MediaType));
        using var response = await http.SendAsync(request);
        return response.Headers.GetValues("Docker-Content-Digest").Single();
    }
}

using System.Net;
using CacheRegistry.Storage;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>The upstream side attacks: redirects to collectors of credentials and to internal services, pages and bombs instead of manifests.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class HostileUpstreamTests : IAsyncLifetime
{
    private InternalService _internal = null!;
    private HostileUpstream _hostile = null!;
    private CacheServer _cache = null!;
    private readonly HttpClient _http = Net.NewHttpClient();

    public async Task InitializeAsync()
    {
        _internal = await InternalService.StartAsync();
        _hostile = await HostileUpstream.StartAsync(_internal.Url);
        _cache = await CacheServer.StartAsync(_hostile.Url, "--Registry:Upstreams:docker.io:Username=" + HostileUpstream.User,
            "--Registry:Upstreams:docker.io:Password=" + HostileUpstream.Password);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cache.DisposeAsync();
        await _hostile.DisposeAsync();
        await _internal.DisposeAsync();
    }

    private Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(_cache.Url + path);

    [Fact]
    public async Task A_redirect_target_that_asks_for_basic_auth_never_gets_the_upstreams_password()
    {
        using var response = await GetAsync($"/v2/creds/blobs/{_hostile.LayerDigest}");
        Assert.False(response.IsSuccessStatusCode);
        Assert.NotEmpty(_hostile.Collected);
        Assert.All(_hostile.Collected, c => Assert.Null(c.Authorization));
    }

    [Fact]
    public async Task A_redirect_target_with_its_own_token_service_gets_no_credentials_for_it()
    {
        using var response = await GetAsync($"/v2/bearer/blobs/{_hostile.LayerDigest}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_hostile.Layer, await response.Content.ReadAsByteArrayAsync()); // verified, so served
        var token = Assert.Single(_hostile.Collected, c => c.Path.StartsWith("/token", StringComparison.Ordinal));
        Assert.Null(token.Authorization);
        Assert.DoesNotContain(_hostile.Collected, c => c.Authorization?.StartsWith("Basic", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task A_manifest_redirected_to_an_internal_address_is_refused_and_nothing_is_stored()
    {
        using var response = await GetAsync("/v2/ssrf/manifests/latest");
        await ApiTests.AssertErrorAsync(response, HttpStatusCode.BadGateway, "UNAVAILABLE");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("refused", body);
        Assert.Contains("10.99.0.1", body);
        Assert.Empty(_internal.Requests);
        Assert.Null(await _cache.Service<IMetadataStore>().GetTagAsync("docker.io/library/ssrf", "latest", default));
    }

    [Theory]
    [InlineData("/v2/html/manifests/latest", "not a manifest")]
    [InlineData("/v2/badlocation/manifests/latest", "Location")]
    [InlineData("/v2/badrealm/manifests/latest", "realm")]
    [InlineData("/v2/tokenbomb/manifests/latest", "65536")]
    public async Task Hostile_answers_are_clean_502s_and_nothing_is_stored(string path, string why)
    {
        using var response = await GetAsync(path).WaitAsync(TimeSpan.FromSeconds(30));
        await ApiTests.AssertErrorAsync(response, HttpStatusCode.BadGateway, "UNAVAILABLE");
        Assert.Contains(why, await response.Content.ReadAsStringAsync());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        var repository = "docker.io/library/" + path.Split('/')[2];
        Assert.Null(await _cache.Service<IMetadataStore>().GetTagAsync(repository, "latest", default));
    }

    [Fact]
    public async Task An_endless_token_answer_leaves_the_process_memory_flat()
    {
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + _hostile.Url,
            "--Registry:Upstreams:docker.io:Username=" + HostileUpstream.User, "--Registry:Upstreams:docker.io:Password=" + HostileUpstream.Password]);
        await cache.StartAsync();
        using (await _http.GetAsync($"{cache.Url}/v2/small/manifests/latest")) { } // warmed up
        var before = cache.ResidentBytes();
        for (var i = 0; i < 20; i++)
        {
            using var response = await _http.GetAsync($"{cache.Url}/v2/tokenbomb/manifests/t{i}");
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }
        Assert.InRange(cache.ResidentBytes() - before, long.MinValue, 64L * 1024 * 1024);
    }
}

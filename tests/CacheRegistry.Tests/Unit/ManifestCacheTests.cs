using System.Net;
using CacheRegistry.Cache;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Unit;

/// <summary>The tag state machine: fresh → local, stale → HEAD revalidation, failure → stale, digests never go upstream twice.</summary>
public sealed class ManifestCacheTests : IDisposable
{
    private readonly string _dir = Infrastructure.Net.TempDir("unit");
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly RegistryOptions _options = new() { TagTtl = TimeSpan.FromMinutes(5), RevalidateDeadline = TimeSpan.FromSeconds(1) };
    private readonly SqliteMetadataStore _store;
    private byte[] _current = StubHandler.ManifestBytes("one");
    private bool _upstreamDown;
    // Answers a manifest GET instead of the upstream (a 429, say); HEADs still see the current digest.
    private Func<HttpResponseMessage>? _getAnswer;
    // How long every upstream request takes.
    private TimeSpan _latency;
    // Holds manifest GETs until set.
    private ManualResetEventSlim? _getGate;

    public ManifestCacheTests() => _store = new SqliteMetadataStore(_dir);

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private HttpResponseMessage Upstream(HttpRequestMessage request)
    {
        if (_upstreamDown) throw new HttpRequestException("connection refused");
        if (_latency > TimeSpan.Zero) Thread.Sleep(_latency);
        if (request.Method == HttpMethod.Get) _getGate?.Wait(TimeSpan.FromSeconds(30));
        if (_getAnswer is not null && request.Method == HttpMethod.Get) return _getAnswer();
        var path = request.RequestUri!.AbsolutePath;
        if (path.EndsWith("/manifests/v1", StringComparison.Ordinal) || path.EndsWith("/manifests/" + StubHandler.DigestOf(_current), StringComparison.Ordinal))
            return StubHandler.Manifest(_current);
        if (path.Contains("/manifests/sha256:bad", StringComparison.Ordinal)) return StubHandler.Manifest(StubHandler.ManifestBytes("evil"));
        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    private (ManifestCache Cache, StubHandler Handler) Create()
    {
        var handler = new StubHandler(Upstream);
        var hot = new HotCache(_options);
        return (new ManifestCache(_store, hot, new NegativeCache(hot, _options, _time), _store, new BackgroundWork(), _options, _time, NullLogger<ManifestCache>.Instance), handler);
    }

    [Fact]
    public async Task Fresh_tags_are_local_stale_tags_revalidate_with_head()
    {
        var (cache, handler) = Create();
        var repo = Stub.Repo(handler, _time);

        var first = await cache.GetAsync(repo, "v1", default);
        Assert.Equal(CacheOutcome.Miss, first.Outcome);
        Assert.Equal(StubHandler.DigestOf(_current), first.Manifest.Digest.ToString());
        Assert.Single(handler.Requests);

        _time.Now += TimeSpan.FromMinutes(4);
        Assert.Equal(CacheOutcome.Hit, (await cache.GetAsync(repo, "v1", default)).Outcome);
        Assert.Single(handler.Requests);

        _time.Now += TimeSpan.FromMinutes(2);
        Assert.Equal(CacheOutcome.Revalidated, (await cache.GetAsync(repo, "v1", default)).Outcome);
        Assert.Equal("HEAD", handler.Requests[^1].Method);
        Assert.Equal(2, handler.Requests.Count);
        Assert.Equal(CacheOutcome.Hit, (await cache.GetAsync(repo, "v1", default)).Outcome); // window restarted
    }

    [Fact]
    public async Task A_moved_tag_is_fetched_and_a_failed_revalidation_serves_stale()
    {
        var (cache, handler) = Create();
        var repo = Stub.Repo(handler, _time);
        var old = await cache.GetAsync(repo, "v1", default);

        _current = StubHandler.ManifestBytes("two");
        _time.Now += TimeSpan.FromMinutes(6);
        var moved = await cache.GetAsync(repo, "v1", default);
        Assert.Equal(CacheOutcome.Revalidated, moved.Outcome);
        Assert.NotEqual(old.Manifest.Digest, moved.Manifest.Digest);

        _upstreamDown = true;
        _time.Now += TimeSpan.FromMinutes(6);
        var stale = await cache.GetAsync(repo, "v1", default);
        Assert.Equal(CacheOutcome.Stale, stale.Outcome);
        Assert.Equal(moved.Manifest.Digest, stale.Manifest.Digest);

        // Cached digests never go upstream again, whatever the upstream's state.
        Assert.Equal(CacheOutcome.Hit, (await cache.GetAsync(repo, old.Manifest.Digest.ToString(), default)).Outcome);
    }

    [Fact]
    public async Task A_moved_tag_whose_get_is_rate_limited_serves_the_stale_digest()
    {
        var (cache, handler) = Create();
        var repo = Stub.Repo(handler, _time);
        var old = await cache.GetAsync(repo, "v1", default);

        // Docker Hub's usual shape: the HEAD is free and shows a new digest, the GET gets 429.
        _current = StubHandler.ManifestBytes("two");
        _getAnswer = () => new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        _time.Now += TimeSpan.FromMinutes(6);
        var answer = await cache.GetAsync(repo, "v1", default);
        Assert.Equal(CacheOutcome.Stale, answer.Outcome);
        Assert.Equal(old.Manifest.Digest, answer.Manifest.Digest);
        Assert.Equal(["GET", "HEAD", "GET"], handler.Requests.Select(r => r.Method));
    }

    [Fact]
    public async Task A_slow_revalidation_serves_stale_at_the_deadline_and_finishes_for_the_next_request()
    {
        var (cache, handler) = Create();
        var repo = Stub.Repo(handler, _time);
        var old = await cache.GetAsync(repo, "v1", default);

        // Each round trip fits the 1 s deadline, HEAD and GET together do not: cancelled at the
        // deadline, such a tag would stay stale for ever.
        _current = StubHandler.ManifestBytes("two");
        _latency = TimeSpan.FromMilliseconds(700);
        _getGate = new ManualResetEventSlim();
        _time.Now += TimeSpan.FromMinutes(6);
        var answer = await cache.GetAsync(repo, "v1", default); // the GET is held until this answer is in
        Assert.Equal(CacheOutcome.Stale, answer.Outcome);
        Assert.Equal(old.Manifest.Digest, answer.Manifest.Digest);
        _getGate.Set();

        var expected = StubHandler.DigestOf(_current);
        await Infrastructure.Net.WaitUntilAsync(async () => (await cache.GetAsync(repo, "v1", default)).Manifest.Digest.ToString() == expected,
            TimeSpan.FromSeconds(20), "the new digest");
    }

    [Theory]
    [InlineData("text/html", "<html><script>alert(1)</script></html>")]
    [InlineData("application/gzip", "\u001f\u008b\u0008\u0000")]
    [InlineData("application/json", "{\"architecture\":\"amd64\"}")]
    [InlineData("application/vnd.oci.image.manifest.v1+json", "not json at all")]
    public async Task What_is_not_a_manifest_is_refused_and_not_stored(string contentType, string body)
    {
        var (cache, handler) = Create();
        _getAnswer = () =>
        {
            var r = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body) };
            r.Content.Headers.ContentType = new(contentType);
            return r;
        };
        var e = await Assert.ThrowsAsync<RegistryError>(() => cache.GetAsync(Stub.Repo(handler, _time), "v1", default));
        Assert.Equal(502, e.Status);
        Assert.Contains("not a manifest", e.Message);
        Assert.Null(await _store.GetTagAsync("docker.io/library/x", "v1", default));
    }

    [Fact]
    public async Task A_manifest_whose_bytes_do_not_match_the_requested_digest_is_refused_and_not_stored()
    {
        var (cache, handler) = Create();
        var repo = Stub.Repo(handler, _time);
        var bad = "sha256:bad" + new string('0', 61);
        var e = await Assert.ThrowsAsync<RegistryError>(() => cache.GetAsync(repo, bad, default));
        Assert.Equal(502, e.Status);
        Assert.Contains("does not match", e.Message);
        Assert.Null(await _store.GetManifestAsync(Digest.Parse(bad), default));
    }

    [Fact]
    public async Task Concurrent_misses_share_one_upstream_fetch()
    {
        var (cache, handler) = Create();
        var repo = Stub.Repo(handler, _time);
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => cache.GetAsync(repo, "v1", default)));
        Assert.All(results, r => Assert.Equal(results[0].Manifest.Digest, r.Manifest.Digest));
        Assert.Single(handler.Requests);
    }

    [Fact]
    public async Task Unknown_manifest_is_manifest_unknown()
    {
        var (cache, handler) = Create();
        var e = await Assert.ThrowsAsync<RegistryError>(() => cache.GetAsync(Stub.Repo(handler, _time), "nope", default));
        Assert.Equal((404, "MANIFEST_UNKNOWN"), (e.Status, e.Code));
    }
}

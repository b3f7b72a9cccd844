using System.Net;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage.S3;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace CacheRegistry.Tests.Integration;

/// <summary>One upstream download however many pull, fills that resume, and crashes that leave nothing half-visible.</summary>
[Collection(IntegrationCollection.Name)]
public sealed class ResilienceTests(UpstreamFixture fx, BackendsFixture backends)
{
    private static readonly string[] FastRetries = ["--Registry:Fill:ResumeBackoff=00:00:00.020", "--Registry:Timeouts:Idle=00:00:01"];

    private static string BlobPath(string dataDir, string digest) => Path.Combine(dataDir, "blobs", "sha256", digest[7..9], digest[7..]);

    private static async Task<HttpClient> PrimedAsync(string cacheUrl)
    {
        var http = Net.NewHttpClient();
        using (var manifest = await http.GetAsync($"{cacheUrl}/v2/faulty/manifests/latest")) manifest.EnsureSuccessStatusCode();
        return http;
    }

    [Theory]
    [InlineData(BlobFault.CutOnce)]
    [InlineData(BlobFault.StallOnce)]
    [InlineData(BlobFault.CutOnceThenIgnoreRange)]
    public async Task A_dropped_or_stalled_upstream_connection_is_resumed_invisibly(BlobFault fault)
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = fault;
        await using var cache = await CacheServer.StartAsync(upstream.Url, FastRetries);
        using var http = await PrimedAsync(cache.Url);

        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}");
        Assert.Equal(upstream.Layer, bytes);
        Assert.Equal(2, upstream.BlobGets);
        Assert.Null(upstream.Ranges[0]);
        // Resumed from what actually arrived (bytes in flight at the cut are lost), never from zero.
        var resumedFrom = long.Parse(upstream.Ranges[1]!["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(resumedFrom, 1, upstream.Layer.Length / 2);
        await Net.WaitUntilAsync(() => Task.FromResult(File.Exists(BlobPath(cache.DataDir, upstream.LayerDigest))), TimeSpan.FromSeconds(10), "commit");
    }

    [Fact]
    public async Task When_the_resume_budget_is_spent_the_client_sees_a_cut_body_and_nothing_is_stored()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Truncate;
        await using var cache = await CacheServer.StartAsync(upstream.Url, [.. FastRetries, "--Registry:Fill:ResumeAttempts=2"]);
        using var http = await PrimedAsync(cache.Url);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}"));
        Assert.Equal(3, upstream.BlobGets);
        Assert.False(File.Exists(BlobPath(cache.DataDir, upstream.LayerDigest)));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(cache.DataDir, "spool")));
    }

    [Theory]
    [InlineData(BlobFault.ServerError, HttpStatusCode.BadGateway, "UNAVAILABLE")]
    [InlineData(BlobFault.RateLimited, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS")]
    public async Task Upstream_errors_before_any_byte_become_clear_errors(BlobFault fault, HttpStatusCode status, string code)
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, FastRetries);
        using var http = await PrimedAsync(cache.Url);
        upstream.Fault = fault;

        using var response = await http.GetAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}");
        await ApiTests.AssertErrorAsync(response, status, code);
        Assert.Contains(new Uri(upstream.Url).Authority, await response.Content.ReadAsStringAsync());
        if (status == HttpStatusCode.TooManyRequests) Assert.NotNull(response.Headers.RetryAfter);
        Assert.False(File.Exists(BlobPath(cache.DataDir, upstream.LayerDigest)));
    }

    [Fact]
    public async Task Twenty_concurrent_clients_share_one_upstream_download_and_stream_before_it_ends()
    {
        // The upstream sends half the blob and holds the rest until every client has bytes: if a
        // client could not stream before the download ended, this would never finish.
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated;
        await using var cache = await CacheServer.StartAsync(upstream.Url);
        using var http = await PrimedAsync(cache.Url);
        var url = $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}";

        var streaming = 0;
        var clients = Enumerable.Range(0, 20).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (i % 4 == 3) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(1000, null);
            var bytes = await Net.ReadNotingFirstBytesAsync(http, request, () =>
            {
                if (Interlocked.Increment(ref streaming) == 20) upstream.Gate.TrySetResult();
            });
            return (Ranged: i % 4 == 3, Bytes: bytes);
        }).ToList();
        var results = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.All(results, r => Assert.Equal(r.Ranged ? upstream.Layer[1000..] : upstream.Layer, r.Bytes));
        Assert.Equal(1, upstream.BlobGets);
    }

    [Fact]
    public async Task Twenty_concurrent_skopeo_pulls_of_a_cold_image_fetch_each_blob_once()
    {
        var image = TestImage.Build("library/crowd", "1", ImageFormat.Oci, ["linux/amd64"], [4 * 1024 * 1024, 64 * 1024], Net.TempDir("crowd"));
        await image.PushAsync(fx.Upstream.Address);
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url);
        var mark = await fx.Upstream.MarkAsync();

        var digests = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Skopeo.PullAsync(cache.Address, "crowd:1")));
        Assert.All(digests, d => Assert.Equal(image.Digest, d));
        foreach (var blob in image.AllBlobs)
            Assert.Single(await fx.Upstream.RequestsSinceAsync(mark, "GET", $"/v2/library/crowd/blobs/{blob}"));
        Assert.Single(await fx.Upstream.RequestsSinceAsync(mark, "GET", "/v2/library/crowd/manifests/1"));
    }

    [Fact]
    public async Task Two_replicas_share_one_upstream_download()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.SlowDrip;
        var prefix = $"lease{Guid.NewGuid():N}/";
        string[] args = ["--Registry:Upstreams:docker.io:Endpoints:0=" + upstream.Url, "--Registry:Metadata:Kind=Redis",
            "--Registry:Metadata:Configuration=" + backends.Redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix, .. backends.S3.Args(prefix)];
        await using var a = new CacheProcess(args);
        await using var b = new CacheProcess(args);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        using var http = await PrimedAsync(a.Url);

        var fromA = http.GetByteArrayAsync($"{a.Url}/v2/faulty/blobs/{upstream.LayerDigest}");
        await Net.WaitUntilAsync(() => Task.FromResult(upstream.BlobGets == 1), TimeSpan.FromSeconds(10), "replica A's fill");
        var fromB = http.GetByteArrayAsync($"{b.Url}/v2/faulty/blobs/{upstream.LayerDigest}");

        Assert.Equal(upstream.Layer, await fromA);
        Assert.Equal(upstream.Layer, await fromB);
        Assert.Equal(1, upstream.BlobGets);
    }

    [Fact]
    public async Task When_the_lease_holder_dies_its_lease_expires_and_another_replica_takes_over()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated; // A's download never ends by itself
        var prefix = $"takeover{Guid.NewGuid():N}/";
        string[] args = ["--Registry:Upstreams:docker.io:Endpoints:0=" + upstream.Url, "--Registry:Metadata:Kind=Redis",
            "--Registry:Metadata:Configuration=" + backends.Redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix,
            "--Registry:Fill:LeaseTtl=00:00:02", .. backends.S3.Args(prefix)];
        await using var a = new CacheProcess(args);
        await using var b = new CacheProcess(args);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        using var http = await PrimedAsync(a.Url);

        using var doomed = await http.GetAsync($"{a.Url}/v2/faulty/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead);
        // B's client gets its headers while A still downloads, not at A's commit (which never comes).
        using var fromB = await http.GetAsync($"{b.Url}/v2/faulty/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead)
            .WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(upstream.Layer.Length, fromB.Content.Headers.ContentLength);
        // B waits on A's lease instead of downloading: it says so, and the upstream saw one GET.
        await Net.WaitUntilAsync(() => Task.FromResult(b.Log.Contains("is downloading it; waiting for its commit", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20), "replica B waiting on A's lease");
        Assert.Equal(1, upstream.BlobGets);
        upstream.Fault = BlobFault.None;
        await a.KillAsync();

        Assert.Equal(upstream.Layer, await fromB.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, upstream.BlobGets); // B took over once A's lease expired
        upstream.Gate.TrySetResult();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Kill_9_in_the_middle_of_a_fill_leaves_nothing_visible_and_cleans_up_at_restart(bool s3)
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.SlowDrip;
        var prefix = $"kill{Guid.NewGuid():N}/";
        string[] args = ["--Registry:Upstreams:docker.io:Endpoints:0=" + upstream.Url, .. s3 ? backends.S3.Args(prefix) : []];
        var dataDir = Net.TempDir("killed");
        var spoolDir = Path.Combine(dataDir, "spool");
        await using (var doomed = new CacheProcess(args, dataDir: dataDir))
        {
            await doomed.StartAsync();
            using var http = await PrimedAsync(doomed.Url);
            using var response = await http.GetAsync($"{doomed.Url}/v2/faulty/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead);
            await (await response.Content.ReadAsStreamAsync()).ReadExactlyAsync(new byte[4096]);
            Assert.NotEmpty(Directory.EnumerateFiles(spoolDir));
            await doomed.KillAsync();
        }

        upstream.Fault = BlobFault.None;
        await using var restarted = new CacheProcess(args, dataDir: dataDir);
        await restarted.StartAsync();
        Assert.Empty(Directory.EnumerateFiles(spoolDir));
        // Nothing of the interrupted fill is visible where blobs live: the file tree, or the bucket
        // (a crashed process cannot abort its multipart upload; the hourly sweep does, on stores that
        // list uploads, which s3rver cannot).
        using var bucket = new S3BlobStore(backends.S3.Options(prefix), NullLogger<S3BlobStore>.Instance);
        var digest = Digest.Parse(upstream.LayerDigest);
        Assert.False(File.Exists(BlobPath(dataDir, upstream.LayerDigest)));
        Assert.Null(await bucket.GetSizeAsync(digest, default));
        using var client = Net.NewHttpClient();
        Assert.Equal(upstream.Layer, await client.GetByteArrayAsync($"{restarted.Url}/v2/faulty/blobs/{upstream.LayerDigest}"));
        await Net.WaitUntilAsync(async () => s3 ? await bucket.GetSizeAsync(digest, default) == upstream.Layer.Length : File.Exists(BlobPath(dataDir, upstream.LayerDigest)),
            TimeSpan.FromSeconds(20), "the blob committed after the restart");
    }
}

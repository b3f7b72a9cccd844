using System.Net;
using System.Security.Cryptography;
using CacheRegistry.Cluster;
using CacheRegistry.Oci;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Replicas on one Redis and one S3 server with Registry:Cluster set: a client of any replica
/// streams the running fill of the replica that holds the blob's lease, so the upstream is asked
/// once and every client gets bytes at the upstream's pace; a holder killed mid-fill is replaced
/// by a replica that resumes with Range; a replica that sends wrong bytes gets nothing stored.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ClusterFillTests(BackendsFixture backends)
{
    private const string Secret = "cluster-test-secret-0123456789";

    /// <summary>Replicas sharing a key prefix, each advertising its own loopback URL.</summary>
    private (List<CacheProcess> Replicas, string Prefix) Replicas(string upstreamUrl, int count, params string[] extra)
    {
        var prefix = $"cluster{Guid.NewGuid():N}/";
        return (Enumerable.Range(0, count).Select(_ =>
        {
            var port = Net.FreePort();
            return new CacheProcess(
            [
                "--Registry:Upstreams:docker.io:Endpoints:0=" + upstreamUrl, "--Registry:Metadata:Kind=Redis",
                "--Registry:Metadata:Configuration=" + backends.Redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix,
                $"--Registry:Cluster:AdvertiseUrl=http://127.0.0.1:{port}", "--Registry:Cluster:Secret=" + Secret,
                .. backends.S3.Args(prefix), .. extra,
            ], port: port);
        }).ToList(), prefix);
    }

    private static async Task<HttpClient> PrimedAsync(string cacheUrl)
    {
        var http = Net.NewHttpClient();
        using (var manifest = await http.GetAsync($"{cacheUrl}/v2/faulty/manifests/latest")) manifest.EnsureSuccessStatusCode();
        return http;
    }

    [Fact]
    public async Task Twenty_clients_on_three_replicas_share_one_upstream_download_and_all_stream_before_it_ends()
    {
        // Half the blob, then nothing until every client has bytes: a client whose replica waited
        // for the holder's commit would never get any, and this would not finish.
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated;
        var (replicas, _) = Replicas(upstream.Url, 3);
        try
        {
            await Task.WhenAll(replicas.Select(r => r.StartAsync()));
            using var http = await PrimedAsync(replicas[0].Url);
            var streaming = 0;
            var clients = Enumerable.Range(0, 20).Select(async i =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"{replicas[i % 3].Url}/v2/faulty/blobs/{upstream.LayerDigest}");
                var ranged = i % 5 == 4;
                if (ranged) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(1000, null);
                var bytes = await Net.ReadNotingFirstBytesAsync(http, request, () =>
                {
                    if (Interlocked.Increment(ref streaming) == 20) upstream.Gate.TrySetResult();
                });
                return (Ranged: ranged, Bytes: bytes);
            }).ToList();
            var results = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));

            Assert.All(results, r => Assert.Equal(r.Ranged ? upstream.Layer[1000..] : upstream.Layer, r.Bytes));
            Assert.Equal(1, upstream.BlobGets);
            Assert.Equal(2, replicas.Count(r => r.Log.Contains("streaming its running fill from", StringComparison.Ordinal)));
            // Counted when each follower's fill ends, just after its clients had their last byte.
            await Net.WaitUntilAsync(async () => (await Task.WhenAll(replicas.Select(r => Exposition.ScrapeAsync(r.Url))))
                .Sum(e => e.Sum("cacheregistry_fill_from_replica_total")) == 2, TimeSpan.FromSeconds(10), "two fills counted as from a replica");
        }
        finally
        {
            foreach (var r in replicas) await r.DisposeAsync();
        }
    }

    [Fact]
    public async Task When_the_holder_is_killed_mid_fill_every_client_completes_and_the_rest_is_fetched_once_with_range()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated; // the holder's download never ends by itself
        var (replicas, _) = Replicas(upstream.Url, 3, "--Registry:Fill:LeaseTtl=00:00:02");
        try
        {
            await Task.WhenAll(replicas.Select(r => r.StartAsync()));
            using var http = await PrimedAsync(replicas[0].Url);
            var url = (CacheProcess r) => $"{r.Url}/v2/faulty/blobs/{upstream.LayerDigest}";
            using var doomed = await http.GetAsync(url(replicas[0]), HttpCompletionOption.ResponseHeadersRead);
            await Net.WaitUntilAsync(() => Task.FromResult(upstream.BlobGets == 1), TimeSpan.FromSeconds(10), "the first replica's fill");

            // Clients of the other two replicas have bytes of the holder's fill before it dies.
            var firstBytes = 0;
            var allHaveBytes = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var clients = Enumerable.Range(0, 6).Select(async i =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url(replicas[1 + i % 2]));
                return await Net.ReadNotingFirstBytesAsync(http, request, () =>
                {
                    if (Interlocked.Increment(ref firstBytes) == 6) allHaveBytes.TrySetResult();
                });
            }).ToList();
            await allHaveBytes.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(1, upstream.BlobGets);

            upstream.Fault = BlobFault.None;
            await replicas[0].KillAsync();
            upstream.Gate.TrySetResult(); // the dead holder's request ends, so the upstream can stop at once
            var results = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));

            Assert.All(results, bytes => Assert.Equal(upstream.Layer, bytes));
            // One replica took the lease over and asked the upstream for what it did not have yet, once.
            Assert.Equal(2, upstream.BlobGets);
            Assert.Matches(@"^bytes=[1-9]\d*-$", upstream.Ranges[1]);
            // The replacement stored it: once its commit is logged (s3rver completes a multipart
            // upload in place, so not before), a replica serves it without the upstream.
            await Net.WaitUntilAsync(() => Task.FromResult(replicas.Skip(1).Any(r => r.Log.Contains($"@{upstream.LayerDigest} committed", StringComparison.Ordinal))),
                TimeSpan.FromSeconds(20), "the new holder's commit");
            var survivor = replicas[1];
            Assert.Equal(upstream.Layer, await http.GetByteArrayAsync(url(survivor)));
            Assert.Equal(2, upstream.BlobGets);
        }
        finally
        {
            foreach (var r in replicas) await r.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_blob_being_filled_for_one_repository_is_not_streamed_to_a_client_of_another_that_lacks_it()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        upstream.Fault = BlobFault.Gated;
        var (replicas, _) = Replicas(upstream.Url, 2);
        try
        {
            await Task.WhenAll(replicas.Select(r => r.StartAsync()));
            using var http = await PrimedAsync(replicas[0].Url);
            using var holder = await http.GetAsync($"{replicas[0].Url}/v2/faulty/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, holder.StatusCode);

            // The upstream has no such repository: knowing a digest must not open another repository's blob.
            using var other = await http.GetAsync($"{replicas[1].Url}/v2/other/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead)
                .WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
            Assert.Contains("BLOB_UNKNOWN", await other.Content.ReadAsStringAsync());

            upstream.Gate.TrySetResult();
            Assert.Equal(upstream.Layer, await holder.Content.ReadAsByteArrayAsync());
            Assert.Equal(1, upstream.BlobGets);
        }
        finally
        {
            foreach (var r in replicas) await r.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_blob_whose_index_record_was_lost_is_served_from_the_store_while_the_upstream_is_silent_or_refuses()
    {
        // In a cluster a cold blob goes to its fill when Redis has no record of it, without waiting
        // for S3: the fill must still find the stored copy when the record was lost (Redis flushed).
        var upstream = await FaultyUpstream.StartAsync();
        var (replicas, prefix) = Replicas(upstream.Url, 1);
        await using var cache = replicas[0];
        try
        {
            await cache.StartAsync();
            using var http = await PrimedAsync(cache.Url);
            var url = $"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}";
            Assert.Equal(upstream.Layer, await http.GetByteArrayAsync(url));
            await Net.WaitUntilAsync(() => Task.FromResult(cache.Log.Contains($"@{upstream.LayerDigest} committed", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(20), "the commit");
            var redis = (string[] args) => ProcessRunner.RunCheckedAsync(ProcessRunner.Require("redis-cli"),
                ["-p", backends.Redis.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. args]);
            var size = upstream.Layer.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var found = 0;
            foreach (var outage in new Func<Task>[] { () => { upstream.Fault = BlobFault.Silent; return Task.CompletedTask; }, () => upstream.DisposeAsync().AsTask() })
            {
                await redis(["HDEL", $"{prefix}blobs", upstream.LayerDigest]);
                await outage();
                // Well inside Timeouts:FirstByte (30 s): the store's answer, not the upstream's timeout, decides.
                Assert.Equal(upstream.Layer, await http.GetByteArrayAsync(url).WaitAsync(TimeSpan.FromSeconds(15)));
                found++;
                await Net.WaitUntilAsync(() => Task.FromResult(System.Text.RegularExpressions.Regex.Count(cache.Log, "the index had no record of it") == found),
                    TimeSpan.FromSeconds(10), "the fill's warning that the store had it");
                await Net.WaitUntilAsync(async () => (await redis(["HGET", $"{prefix}blobs", upstream.LayerDigest])).Trim() == size,
                    TimeSpan.FromSeconds(10), "the blob recorded in the index again");
            }
            // The first fill's, and the silent one's if it went out before S3 answered (then given up).
            Assert.InRange(upstream.BlobGets, 1, 2);
        }
        finally
        {
            await upstream.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_replica_that_sends_wrong_bytes_gets_them_refused_and_never_learns_the_secret()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        var (replicas, prefix) = Replicas(upstream.Url, 1, "--Registry:Fill:LeaseTtl=00:00:03", "--Registry:Fill:LeasePoll=00:00:00.100");
        await using var cache = replicas[0];
        // A "replica" that answers with the right size and the wrong bytes, and whose lease record was planted in Redis.
        var liar = LoopbackApp.Create();
        var authorizations = new System.Collections.Concurrent.ConcurrentQueue<string>();
        liar.MapGet("/internal/fills/{digest}", async (HttpContext ctx) =>
        {
            authorizations.Enqueue(ctx.Request.Headers.Authorization.ToString());
            ctx.Response.Headers[PeerFillClient.SizeHeader] = upstream.Layer.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ctx.Response.ContentLength = upstream.Layer.Length;
            await ctx.Response.Body.WriteAsync(RandomNumberGenerator.GetBytes(upstream.Layer.Length));
        });
        var liarUrl = await LoopbackApp.StartAsync(liar);
        try
        {
            await cache.StartAsync();
            using var http = await PrimedAsync(cache.Url);
            await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("redis-cli"), ["-p", backends.Redis.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "SET", $"{prefix}fill:{upstream.LayerDigest}", "liar/1/x " + liarUrl, "PX", "3000"]);

            using var response = await http.GetAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}", HttpCompletionOption.ResponseHeadersRead);
            // Headers may already be out; the body never completes whole.
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                response.EnsureSuccessStatusCode();
                var body = await response.Content.ReadAsByteArrayAsync();
                Assert.Fail($"a body of {body.Length} bytes was served whole");
            });
            // The log is written by a background thread: wait for the fill's failure line.
            await Net.WaitUntilAsync(() => Task.FromResult(cache.Log.Contains("sent bytes that do not hash to", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(10), "the fill's failure in the log");
            Assert.Equal(0, upstream.BlobGets);
            var header = Assert.Single(authorizations);
            Assert.StartsWith(PeerSignature.Scheme + " t=", header);
            Assert.DoesNotContain(Secret, header);

            // Once the planted lease expires, the blob comes from the upstream, verified.
            await Net.WaitUntilAsync(async () =>
            {
                using var again = await http.GetAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}");
                return again.IsSuccessStatusCode && (await again.Content.ReadAsByteArrayAsync()).AsSpan().SequenceEqual(upstream.Layer);
            }, TimeSpan.FromSeconds(20), "the blob from the upstream after the planted lease expired");
            Assert.Equal(1, upstream.BlobGets);
        }
        finally
        {
            await LoopbackApp.StopAsync(liar);
        }
    }

    [Fact]
    public async Task A_lease_left_by_this_replicas_previous_life_is_waited_out_not_followed()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        var (replicas, prefix) = Replicas(upstream.Url, 1, "--Registry:Fill:LeasePoll=00:00:00.100");
        await using var cache = replicas[0];
        await cache.StartAsync();
        using var http = await PrimedAsync(cache.Url);
        // As after a restart: the lease names this replica's own address under another owner.
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("redis-cli"), ["-p", backends.Redis.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "SET", $"{prefix}fill:{upstream.LayerDigest}", "previous/1/x " + cache.Url, "PX", "2000"]);

        // Following itself, it would read its own empty spool until Timeouts:Idle (60 s).
        var bytes = await http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}").WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(upstream.Layer, bytes);
        Assert.Equal(1, upstream.BlobGets);
        // Log lines are written in order by one thread: once the fill's last line is there, any line before it is too.
        await Net.WaitUntilAsync(() => Task.FromResult(cache.Log.Contains($"@{upstream.LayerDigest} committed", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the fill's last log line");
        Assert.DoesNotContain("streaming its running fill from", cache.Log);
    }

    [Fact]
    public async Task The_internal_endpoint_answers_only_signed_requests()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        var (replicas, _) = Replicas(upstream.Url, 1);
        await using var cache = replicas[0];
        await cache.StartAsync();
        using var http = await PrimedAsync(cache.Url);
        Assert.Equal(upstream.Layer, await http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}"));
        var digest = Digest.Parse(upstream.LayerDigest);
        var url = $"{cache.Url}/internal/fills/{digest}?from=100";

        using (var unsigned = await http.GetAsync(url)) Assert.Equal(HttpStatusCode.NotFound, unsigned.StatusCode);
        foreach (var header in new[]
                 {
                     PeerSignature.Header("another-secret-0123456789", digest, 100, DateTimeOffset.UtcNow),
                     PeerSignature.Header(Secret, digest, 0, DateTimeOffset.UtcNow), // signed for another offset
                     PeerSignature.Header(Secret, digest, 100, DateTimeOffset.UtcNow.AddMinutes(-5)), // replayed later
                     "Bearer " + Secret,
                 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.TryAddWithoutValidation("Authorization", header);
            using var refused = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        }

        using var signed = new HttpRequestMessage(HttpMethod.Get, url);
        signed.Headers.TryAddWithoutValidation("Authorization", PeerSignature.Header(Secret, digest, 100, DateTimeOffset.UtcNow));
        using var stored = await http.SendAsync(signed);
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        Assert.Equal(upstream.Layer[100..], await stored.Content.ReadAsByteArrayAsync());
    }
}

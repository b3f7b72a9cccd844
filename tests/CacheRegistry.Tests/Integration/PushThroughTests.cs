using System.Security.Cryptography;
using System.Net;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Registry:Upstreams:&lt;host&gt;:Push: real clients push through the cache into real distribution
/// registries (open and with htpasswd), pulls right after see what was pushed, and registries
/// without Push receive nothing.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class PushThroughTests(UpstreamFixture fx, BackendsFixture backends)
{
    private const string Team = "team.local";
    private readonly HttpClient _http = Net.NewHttpClient();

    private static string[] PushTo(UpstreamRegistry team, params string[] more) =>
        [$"--Registry:Upstreams:{Team}:Endpoints:0={team.Url}", $"--Registry:Upstreams:{Team}:Push=true", "--Registry:TagTtl=1h", .. more];

    private static TestImage Image(string name, string tag, ImageFormat format = ImageFormat.Oci, string[]? platforms = null, int size = 64 * 1024) =>
        TestImage.Build(name, tag, format, platforms ?? ["linux/amd64"], [size, 4 * 1024], Net.TempDir("push-" + name.Replace('/', '-')));

    [Fact]
    public async Task Skopeo_pushes_through_the_cache_and_a_pull_right_after_sees_the_new_digest()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team, "--Registry:Ui:Enabled=true"));

        // A pull before the push: the "not found" is remembered (NegativeTtl) and then forgotten by the push.
        using (var before = await _http.GetAsync($"{cache.Url}/v2/{Team}/app/manifests/1"))
            await ApiTests.AssertErrorAsync(before, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");

        var v1 = Image("app", "1", ImageFormat.Oci, ["linux/amd64", "linux/arm64"]);
        await v1.PushAsync($"{cache.Address}/{Team}"); // skopeo copy --all through the cache, every digest kept
        Assert.Equal(v1.Digest, await Skopeo.PullAsync(team.Address, "app:1")); // it is in the registry
        Assert.Equal(v1.Digest, await Skopeo.PullAsync(cache.Address, $"{Team}/app:1"));

        // The tag moves: with TagTtl at an hour the cache still answers the new digest at once.
        // Over Kestrel's default request body cap (about 28 MiB), which a forwarded upload must not meet.
        var v2 = Image("app", "1", size: 40 << 20);
        await v2.PushAsync($"{cache.Address}/{Team}");
        Assert.Equal(v2.Digest, await Skopeo.PullAsync(cache.Address, $"{Team}/app:1"));

        // The dashboard lists the manifests pushed through beside the pulls.
        var recent = System.Text.Json.JsonDocument.Parse(await _http.GetStringAsync($"{cache.Url}/ui/api/overview")).RootElement.GetProperty("recentPulls");
        Assert.Contains(recent.EnumerateArray(), p => p.GetProperty("image").GetString() == $"{Team}/app:1" && p.GetProperty("result").GetString() == "forwarded");
        var metrics = await Exposition.ScrapeAsync(cache.Url);
        Assert.True(metrics.Sum("cacheregistry_requests_total", ("kind", "push"), ("result", "forwarded")) > 0);
        Assert.True(metrics.Sum("cacheregistry_push_requests_total", ("registry", Team), ("kind", "manifest"), ("status", "201")) >= 2);
        Assert.True(metrics.Sum("cacheregistry_push_bytes_total", ("registry", Team)) >= 2 * 64 * 1024);
    }

    [Fact]
    public async Task A_push_through_one_replica_moves_the_tag_on_the_others_at_once()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        var prefix = $"push{Guid.NewGuid():N}/";
        string[] shared = ["--Registry:Metadata:Kind=Redis", "--Registry:Metadata:Configuration=" + backends.Redis.Configuration, "--Registry:Metadata:KeyPrefix=" + prefix];
        await using var a = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team, shared));
        await using var b = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team, shared));
        var v1 = Image("shared", "1");
        await v1.PushAsync($"{a.Address}/{Team}");
        Assert.Equal(v1.Digest, await Skopeo.PullAsync(b.Address, $"{Team}/shared:1")); // b now holds the tag, fresh for an hour

        var v2 = Image("shared", "1");
        await v2.PushAsync($"{a.Address}/{Team}");
        // The notice reaches b by Redis pub/sub, a moment after the push returns; without it b would answer v1 for an hour.
        await Net.WaitUntilAsync(async () =>
        {
            using var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{b.Url}/v2/{Team}/shared/manifests/1"));
            return head.Headers.TryGetValues("Docker-Content-Digest", out var d) && d.Single() == v2.Digest;
        }, TimeSpan.FromSeconds(5), "the pushed tag on the other replica");
        Assert.Equal(v2.Digest, await Skopeo.PullAsync(b.Address, $"{Team}/shared:1"));
    }

    [Fact]
    public async Task A_manifest_the_registry_refuses_changes_nothing()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var image = Image("kept", "1");
        await image.PushAsync($"{cache.Address}/{Team}");
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{Team}/kept:1"));

        // A manifest naming blobs the registry does not have: refused there, and so here.
        var orphan = System.Text.Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{{new string('a', 64)}}","size":2},"layers":[]}""");
        using var put = new HttpRequestMessage(HttpMethod.Put, $"{cache.Url}/v2/{Team}/kept/manifests/1") { Content = new ByteArrayContent(orphan) };
        put.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        using (var refused = await _http.SendAsync(put))
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{Team}/kept:1"));
        using var byDigest = await _http.GetAsync($"{cache.Url}/v2/{Team}/kept/manifests/{RegistryPush.DigestOf(orphan)}");
        Assert.Equal(HttpStatusCode.NotFound, byDigest.StatusCode);
    }

    [Fact]
    public async Task A_registry_without_push_refuses_writes_and_receives_nothing()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var mark = await fx.Upstream.MarkAsync();
        var teamMark = await team.MarkAsync();

        var writes = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Post, "/v2/library/app/blobs/uploads/"),
            (HttpMethod.Patch, "/v2/library/app/blobs/uploads/0d8b1f3c-upload"),
            (HttpMethod.Put, "/v2/library/app/manifests/1"),
            (HttpMethod.Delete, "/v2/library/app/manifests/1"),
            (HttpMethod.Delete, $"/v2/{Team}/app/manifests/{fx.Small.Digest}"), // Push, but not AllowDelete
            (HttpMethod.Delete, $"/v2/{Team}/app/blobs/{fx.Small.Digest}"),
        };
        foreach (var (method, path) in writes)
        {
            using var request = new HttpRequestMessage(method, cache.Url + path) { Content = new ByteArrayContent([1, 2, 3]) };
            using var response = await _http.SendAsync(request);
            await ApiTests.AssertErrorAsync(response, HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
        }
        using (var hostile = await _http.PostAsync($"{cache.Url}/v2/{Team}/app/blobs/uploads/..%2F..%2Fetc", null))
            Assert.Equal(HttpStatusCode.BadRequest, hostile.StatusCode);
        Assert.Empty(await fx.Upstream.AllRequestsSinceAsync(mark));
        Assert.Empty(await team.AllRequestsSinceAsync(teamMark));
    }

    [Fact]
    public async Task Docker_and_ctr_push_through_the_cache_with_the_registrys_own_login()
    {
        var users = await HtpasswdFile.CreateAsync(("pusher", "pusher-pw"));
        await using var team = new UpstreamRegistry { ExtraConfig = _ => $"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {users}\n" };
        await team.StartAsync();
        // Each client's own account for pulls too: the HEADs before an upload are reads.
        // localhost is the team registry's name at the cache (docker pushes there); 127.0.0.1 is the Docker Hub mirror's.
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team, $"--Registry:Upstreams:{Team}:ClientCredentials=Passthrough",
            $"--Registry:Hosts:localhost={Team}"));

        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        containerd.MirrorTo("docker.io", cache.Url);
        var source = $"docker.io/{fx.ForContainerd.Repository}:{fx.ForContainerd.Tag}";
        // Every platform, so that the index can be pushed whole.
        await containerd.CtrAsync("images", "pull", "--all-platforms", "--hosts-dir", containerd.HostsDir, source);
        var pushed = $"{cache.Address}/{Team}/from-ctr:1";
        await containerd.CtrAsync("images", "tag", source, pushed);
        await containerd.CtrAsync("images", "push", "--plain-http", "--user", "pusher:pusher-pw", pushed);
        // skopeo sends credentials when the ping asks: under the team registry's own name at the cache.
        Assert.Equal(fx.ForContainerd.Digest, await Skopeo.PullAsync($"localhost:{cache.Port}", "from-ctr:1", creds: "pusher:pusher-pw"));

        await using var docker = new DockerDaemon();
        await docker.StartAsync(containerd.Socket, cache.Url);
        var config = Net.TempDir("docker-config");
        async Task<ProcessRunner.Result> Docker(params string[] args) =>
            await ProcessRunner.RunAsync(ProcessRunner.Require("docker"), ["--config", config, "-H", docker.Host, .. args], TimeSpan.FromMinutes(3));
        // docker login to the cache is checked at the registry the cache pushes to.
        var pushHost = $"localhost:{cache.Port}";
        var wrong = await Docker("login", pushHost, "-u", "pusher", "-p", "wrong");
        Assert.True(wrong.ExitCode != 0, wrong.Output);
        var login = await Docker("login", pushHost, "-u", "pusher", "-p", "pusher-pw");
        Assert.True(login.ExitCode == 0, login.Output);
        var name = fx.ForDocker.Repository["library/".Length..];
        var pulled = await Docker("pull", $"{name}:{fx.ForDocker.Tag}");
        Assert.True(pulled.ExitCode == 0, pulled.Output);
        Assert.Equal(0, (await Docker("tag", $"{name}:{fx.ForDocker.Tag}", $"{pushHost}/from-docker:1")).ExitCode);
        var push = await Docker("push", $"{pushHost}/from-docker:1");
        Assert.True(push.ExitCode == 0, push.Output);
        var digest = push.Output.Split("digest: ")[1].Split(' ')[0];
        Assert.Equal(digest, await Skopeo.PullAsync(team.Address, "from-docker:1", creds: "pusher:pusher-pw"));

        // The same image under another name: docker mounts its layers from the first repository.
        var teamMark = await team.MarkAsync();
        Assert.Equal(0, (await Docker("tag", $"{name}:{fx.ForDocker.Tag}", $"{pushHost}/copy:1")).ExitCode);
        var copy = await Docker("push", $"{pushHost}/copy:1");
        Assert.True(copy.ExitCode == 0, copy.Output);
        // Every layer mounted at the registry (the image config, which docker never mounts, is uploaded).
        var layers = copy.Output.Split('\n').Count(l => l.Contains(": Preparing", StringComparison.Ordinal));
        Assert.True(layers > 0, copy.Output);
        Assert.Equal(layers, copy.Output.Split('\n').Count(l => l.Contains(": Mounted from from-docker", StringComparison.Ordinal)));
        Assert.Equal(layers, (await team.RequestsSinceAsync(teamMark, "POST", "mount=")).Count(l => l.Contains("\" 201 ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task With_the_caches_own_login_a_push_needs_a_push_rule_and_goes_out_with_the_caches_credentials()
    {
        var teamUsers = await HtpasswdFile.CreateAsync(("robot", "robot-pw"));
        await using var team = new UpstreamRegistry { ExtraConfig = _ => $"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {teamUsers}\n" };
        await team.StartAsync();
        var cacheUsers = await HtpasswdFile.CreateAsync(("alice", "alice-pw"), ("bob", "bob-pw"));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team,
            $"--Registry:Upstreams:{Team}:Username=robot", $"--Registry:Upstreams:{Team}:Password=robot-pw", "--Registry:Auth:Htpasswd=" + cacheUsers,
            "--Registry:Auth:Rules:0:Name=builders", "--Registry:Auth:Rules:0:Users:0=alice", $"--Registry:Auth:Rules:0:Repositories:0={Team}/**",
            "--Registry:Auth:Rules:0:Actions:0=pull", "--Registry:Auth:Rules:0:Actions:1=push",
            "--Registry:Auth:Rules:1:Name=readers", "--Registry:Auth:Rules:1:Users:0=*", "--Registry:Auth:Rules:1:Repositories:0=**"));

        var image = Image("built", "1");
        var teamMark = await team.MarkAsync();
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => image.PushAsync($"{cache.Address}/{Team}", "bob:bob-pw"));
        Assert.Contains("no rule in Registry:Auth:Rules lets bob push to", refused.Message);
        // bob may pull, so skopeo's HEADs for blobs were answered (through the cache); nothing was written.
        foreach (var method in new[] { "POST", "PATCH", "PUT" }) Assert.Empty(await team.RequestsSinceAsync(teamMark, method, "/v2/"));

        await image.PushAsync($"{cache.Address}/{Team}", "alice:alice-pw");
        Assert.Equal(image.Digest, await Skopeo.PullAsync(team.Address, "built:1", creds: "robot:robot-pw"));
        Assert.Equal(image.Digest, await Skopeo.PullAsync(cache.Address, $"{Team}/built:1", creds: "bob:bob-pw"));
    }

    [Fact]
    public async Task Two_clients_pushing_one_tag_end_with_one_of_the_two_and_the_cache_serves_the_registrys()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var a = Image("race", "1", size: 512 * 1024);
        var b = Image("race", "1", size: 512 * 1024);
        await Task.WhenAll(a.PushAsync($"{cache.Address}/{Team}"), b.PushAsync($"{cache.Address}/{Team}"));
        var registry = await Skopeo.PullAsync(team.Address, "race:1");
        Assert.Contains(registry, new[] { a.Digest, b.Digest });
        Assert.Equal(registry, await Skopeo.PullAsync(cache.Address, $"{Team}/race:1"));
    }

    [Fact]
    public async Task Single_put_uploads_mounts_and_100_continue_pass_through()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var content = new byte[1024 * 1024];
        Random.Shared.NextBytes(content);
        var digest = RegistryPush.DigestOf(content);

        // A session, then the whole blob in one PUT (as containerd uploads), with Expect: 100-continue.
        using var start = await _http.PostAsync($"{cache.Url}/v2/{Team}/mono/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var location = start.Headers.Location!.ToString();
        using var monolithic = new HttpRequestMessage(HttpMethod.Put, location + (location.Contains('?') ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest))
        {
            Content = new ByteArrayContent(content),
        };
        monolithic.Headers.ExpectContinue = true;
        monolithic.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        using (var created = await _http.SendAsync(monolithic))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal(digest, created.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.StartsWith($"{cache.Url}/v2/{Team}/mono/blobs/", created.Headers.Location!.ToString());
        }
        // Mounted into another repository of the registry, the source named as the client names it
        // (docker push sends from=<the path's name>): no bytes sent again.
        using (var mounted = await _http.PostAsync($"{cache.Url}/v2/{Team}/other/blobs/uploads/?mount={digest}&from={Team}/mono", null))
            Assert.Equal(HttpStatusCode.Created, mounted.StatusCode);
        foreach (var repo in new[] { "mono", "other" })
        {
            using var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{team.Url}/v2/{repo}/blobs/{digest}"));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        }
    }

    [Fact]
    public async Task A_single_post_upload_is_taken_though_the_registry_ignores_its_body()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var content = RandomNumberGenerator.GetBytes(40 * 1024 * 1024);
        var digest = RegistryPush.DigestOf(content);
        HttpRequestMessage SinglePost(string repository, string claimed) => new(HttpMethod.Post,
            $"{cache.Url}/v2/{Team}/{repository}/blobs/uploads/?digest={Uri.EscapeDataString(claimed)}")
        {
            Content = new ByteArrayContent(content) { Headers = { ContentType = new("application/octet-stream") } },
        };

        // distribution answers a single POST with 202 and closes the connection mid-body; through
        // the cache the blob is taken in one request all the same (a session, then its PUT).
        using (var created = await _http.SendAsync(SinglePost("single", digest)))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal(digest, created.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.StartsWith($"{cache.Url}/v2/{Team}/single/blobs/", created.Headers.Location!.ToString());
        }
        using (var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{team.Url}/v2/single/blobs/{digest}")))
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        // Bytes that are not the digest: the registry's refusal, and nothing kept.
        var other = RegistryPush.DigestOf(RandomNumberGenerator.GetBytes(16));
        using (var refused = await _http.SendAsync(SinglePost("wrong", other)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("DIGEST_INVALID", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var none = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{team.Url}/v2/wrong/blobs/{other}")))
            Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    [Fact]
    public async Task A_single_post_upload_to_a_registry_with_a_login_gets_its_challenge_then_goes_with_the_clients_account()
    {
        var users = await HtpasswdFile.CreateAsync(("pusher", "pusher-pw"));
        await using var team = new UpstreamRegistry { ExtraConfig = _ => $"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {users}\n" };
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var content = RandomNumberGenerator.GetBytes(1024 * 1024);
        var digest = RegistryPush.DigestOf(content);
        HttpRequestMessage SinglePost(System.Net.Http.Headers.AuthenticationHeaderValue? basic)
        {
            var post = new HttpRequestMessage(HttpMethod.Post, $"{cache.Url}/v2/{Team}/single/blobs/uploads/?digest={Uri.EscapeDataString(digest)}")
            {
                Content = new ByteArrayContent(content),
            };
            post.Headers.Authorization = basic;
            return post;
        }

        using (var challenged = await _http.SendAsync(SinglePost(null)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, challenged.StatusCode);
            Assert.Contains("basic-realm", challenged.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            Assert.Contains("UNAUTHORIZED", await challenged.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var created = await _http.SendAsync(SinglePost(Net.Basic("pusher", "pusher-pw"))))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
    }

    [Fact]
    public async Task With_the_caches_own_login_a_mount_needs_the_right_to_pull_its_source_and_the_token_covers_it()
    {
        await using var issuer = await TokenIssuer.StartAsync();
        await using var team = new UpstreamRegistry { ExtraConfig = issuer.RegistryConfig };
        await team.StartAsync();
        var users = await HtpasswdFile.CreateAsync(("alice", "alice-pw"), ("carol", "carol-pw"));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team,
            $"--Registry:Upstreams:{Team}:Username=pusher", $"--Registry:Upstreams:{Team}:Password=pusher-secret", "--Registry:Auth:Htpasswd=" + users,
            "--Registry:Auth:Rules:0:Users:0=alice", $"--Registry:Auth:Rules:0:Repositories:0={Team}/**",
            "--Registry:Auth:Rules:0:Actions:0=pull", "--Registry:Auth:Rules:0:Actions:1=push",
            "--Registry:Auth:Rules:1:Users:0=carol", $"--Registry:Auth:Rules:1:Repositories:0={Team}/carol/**",
            "--Registry:Auth:Rules:1:Actions:0=pull", "--Registry:Auth:Rules:1:Actions:1=push"));
        async Task<HttpResponseMessage> Send(string user, HttpMethod method, string url, byte[]? body = null)
        {
            using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : new ByteArrayContent(body) };
            request.Headers.Authorization = Net.Basic(user, $"{user}-pw");
            return await _http.SendAsync(request);
        }
        var content = RandomNumberGenerator.GetBytes(256 * 1024);
        var digest = RegistryPush.DigestOf(content);
        using (var start = await Send("alice", HttpMethod.Post, $"{cache.Url}/v2/{Team}/src/blobs/uploads/"))
        {
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            var location = start.Headers.Location!.ToString();
            using var put = await Send("alice", HttpMethod.Put, location + (location.Contains('?') ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest), content);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        // alice may pull the source: the mount is made (the cache's token names the source too).
        using (var mounted = await Send("alice", HttpMethod.Post, $"{cache.Url}/v2/{Team}/dst/blobs/uploads/?mount={digest}&from={Team}/src"))
            Assert.Equal(HttpStatusCode.Created, mounted.StatusCode);

        // carol may not: the registry is asked for a plain upload (it would have mounted with the cache's account).
        var mark = await team.MarkAsync();
        using (var refused = await Send("carol", HttpMethod.Post, $"{cache.Url}/v2/{Team}/carol/x/blobs/uploads/?mount={digest}&from={Team}/src"))
            Assert.Equal(HttpStatusCode.Accepted, refused.StatusCode);
        var sent = Assert.Single(await team.RequestsSinceAsync(mark, "POST", "/v2/carol/x/blobs/uploads/"));
        Assert.DoesNotContain("mount=", sent, StringComparison.Ordinal);

        // A source in another registry cannot be mounted from: a plain upload as well.
        using (var elsewhere = await Send("alice", HttpMethod.Post, $"{cache.Url}/v2/{Team}/dst2/blobs/uploads/?mount={digest}&from=library/busybox"))
            Assert.Equal(HttpStatusCode.Accepted, elsewhere.StatusCode);
    }

    [Fact]
    public async Task A_client_that_stops_mid_upload_leaves_nothing_visible()
    {
        await using var team = new UpstreamRegistry();
        await team.StartAsync();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, PushTo(team));
        var content = new byte[4 * 1024 * 1024];
        Random.Shared.NextBytes(content);
        var digest = RegistryPush.DigestOf(content);

        using var start = await _http.PostAsync($"{cache.Url}/v2/{Team}/half/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var location = start.Headers.Location!;
        Assert.StartsWith($"{cache.Url}/v2/{Team}/half/blobs/uploads/", location.ToString()); // the client keeps talking to the cache
        using var stop = new CancellationTokenSource();
        var half = new HalfThenStall(content, stop);
        using var patch = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new StreamContent(half) };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _http.SendAsync(patch, stop.Token));

        using var head = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{team.Url}/v2/half/blobs/{digest}"));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        using var viaCache = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{cache.Url}/v2/{Team}/half/blobs/{digest}"));
        Assert.Equal(HttpStatusCode.NotFound, viaCache.StatusCode);
    }

    /// <summary>A body that gives half its bytes, then cancels the request as a client that went away.</summary>
    private sealed class HalfThenStall(byte[] content, CancellationTokenSource stop) : CacheRegistry.Common.ReadOnlyStream
    {
        private int _position;
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position >= content.Length / 2)
            {
                await stop.CancelAsync();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            var n = Math.Min(buffer.Length, content.Length / 2 - _position);
            content.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
    }
}

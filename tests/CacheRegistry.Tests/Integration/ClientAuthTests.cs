using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// Client authentication from an htpasswd file made by Apache's htpasswd -B: the registry's Basic
/// challenge, real clients logging in (skopeo --creds, docker login, ctr --user), access rules
/// with a 403 naming the rule, and the file re-read when it changes.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class ClientAuthTests(UpstreamFixture fx, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static string[] Rules(string htpasswd) =>
    [
        "--Registry:Auth:Htpasswd=" + htpasswd,
        "--Registry:Auth:Groups:ops:0=alice",
        "--Registry:Auth:Rules:0:Name=no-internal", "--Registry:Auth:Rules:0:Users:0=*", "--Registry:Auth:Rules:0:Repositories:0=docker.io/internal/**",
        "--Registry:Auth:Rules:0:Allow=false",
        "--Registry:Auth:Rules:1:Name=ops", "--Registry:Auth:Rules:1:Users:0=@ops", "--Registry:Auth:Rules:1:Repositories:0=**",
        "--Registry:Auth:Rules:2:Name=library", "--Registry:Auth:Rules:2:Users:0=*", "--Registry:Auth:Rules:2:Repositories:0=docker.io/library/*",
    ];

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string url, AuthenticationHeaderValue? auth = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = auth;
        return await http.SendAsync(request);
    }

    [Fact]
    public async Task Without_valid_credentials_the_registry_challenges_and_rules_decide_who_pulls_what()
    {
        var htpasswd = await HtpasswdFile.CreateAsync(("alice", "alice-pw"), ("bob", "bob-pw"));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, Rules(htpasswd));
        using var http = Net.NewHttpClient();

        foreach (var (path, auth) in new[] { ("/v2/", (AuthenticationHeaderValue?)null), ("/v2/library/small/manifests/1", null),
                     ("/v2/library/small/manifests/1", Net.Basic("alice", "wrong")), ("/v2/library/small/manifests/1", Net.Basic("mallory", "alice-pw")),
                     ("/status/upstreams", null) })
        {
            using var refused = await GetAsync(http, cache.Url + path, auth);
            await ApiTests.AssertErrorAsync(refused, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Equal("Basic realm=\"cacheregistry\"", refused.Headers.WwwAuthenticate.ToString());
        }
        using (var probe = await http.GetAsync(cache.Url + "/readyz")) Assert.Equal(HttpStatusCode.OK, probe.StatusCode); // probes carry no credentials
        using (var ping = await GetAsync(http, cache.Url + "/v2/", Net.Basic("bob", "bob-pw"))) Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        using (var status = await GetAsync(http, cache.Url + "/status/upstreams", Net.Basic("bob", "bob-pw"))) Assert.Equal(HttpStatusCode.OK, status.StatusCode);

        // bob: the library rule; alice: everything as ops, except what the first rule denies to everyone.
        using (var pulled = await GetAsync(http, cache.Url + "/v2/library/small/manifests/1", Net.Basic("bob", "bob-pw"))) pulled.EnsureSuccessStatusCode();
        using (var denied = await GetAsync(http, cache.Url + "/v2/acme/tool/manifests/1", Net.Basic("bob", "bob-pw")))
        {
            await ApiTests.AssertErrorAsync(denied, HttpStatusCode.Forbidden, "DENIED");
            Assert.Contains("no rule in Registry:Auth:Rules lets bob pull docker.io/acme/tool", await denied.Content.ReadAsStringAsync());
        }
        using (var ops = await GetAsync(http, cache.Url + "/v2/acme/tool/manifests/1", Net.Basic("alice", "alice-pw")))
            await ApiTests.AssertErrorAsync(ops, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN"); // allowed; the upstream has no such image
        using (var internalRepo = await GetAsync(http, cache.Url + "/v2/internal/secret/manifests/1", Net.Basic("alice", "alice-pw")))
        {
            await ApiTests.AssertErrorAsync(internalRepo, HttpStatusCode.Forbidden, "DENIED");
            Assert.Contains("rule 'no-internal' (Registry:Auth:Rules:0) denies alice", await internalRepo.Content.ReadAsStringAsync());
        }

        // The catalog lists what the user may pull.
        using (var catalog = await GetAsync(http, cache.Url + "/v2/_catalog", Net.Basic("bob", "bob-pw")))
        {
            var repositories = JsonDocument.Parse(await catalog.Content.ReadAsStringAsync()).RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()!).ToList();
            Assert.Contains("docker.io/library/small", repositories);
            Assert.All(repositories, r => Assert.StartsWith("docker.io/library/", r, StringComparison.Ordinal));
        }

        // A user added to the file signs in without a restart.
        await HtpasswdFile.AddUserAsync(htpasswd, "carol", "carol-pw");
        await Net.WaitUntilAsync(async () =>
        {
            using var answer = await GetAsync(http, cache.Url + "/v2/", Net.Basic("carol", "carol-pw"));
            return answer.StatusCode == HttpStatusCode.OK;
        }, Bound, "carol accepted after the htpasswd file changed");
    }

    [Fact]
    public async Task Skopeo_docker_login_and_ctr_pull_with_credentials_and_fail_without()
    {
        var htpasswd = await HtpasswdFile.CreateAsync(("alice", "alice-pw"));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Auth:Htpasswd=" + htpasswd);
        var image = fx.ForDocker;

        var skopeo = ProcessRunner.Require("skopeo");
        var target = Net.TempDir("skopeo-auth");
        string[] copy = ["copy", "--quiet", "--src-tls-verify=false", $"docker://{cache.Address}/{image.Repository}:{image.Tag}", $"dir:{target}"];
        var anonymous = await ProcessRunner.RunAsync(skopeo, copy);
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.True(anonymous.Output.Contains("authentication required", StringComparison.OrdinalIgnoreCase), anonymous.Output);
        await ProcessRunner.RunCheckedAsync(skopeo, ["copy", "--src-creds", "alice:alice-pw", .. copy[1..]]);

        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        var reference = $"{cache.Address}/{fx.ForContainerd.Repository}:{fx.ForContainerd.Tag}";
        await Assert.ThrowsAnyAsync<Exception>(() => containerd.CtrAsync("images", "pull", "--plain-http", "--snapshotter", "native", reference));
        await containerd.CtrAsync("images", "pull", "--plain-http", "--user", "alice:alice-pw", "--snapshotter", "native", reference);
        Assert.Equal(fx.ForContainerd.Digest, await containerd.DigestOfAsync(reference));

        await using var docker = new DockerDaemon();
        await docker.StartAsync(containerd.Socket, cache.Url);
        var config = Net.TempDir("docker-config"); // docker login writes here, not to the machine's ~/.docker
        await docker.DockerAsync("--config", config, "login", "-u", "alice", "-p", "alice-pw", cache.Address);
        await docker.DockerAsync("--config", config, "pull", $"{cache.Address}/{image.Repository}:{image.Tag}");
        Assert.Equal(image.Digest, await docker.RepoDigestAsync($"{cache.Address}/{image.Repository}:{image.Tag}"));
    }

    [Fact]
    public async Task An_entry_of_absurd_cost_is_refused_when_the_file_is_read_and_cannot_stop_anyone_logging_in()
    {
        var htpasswd = await HtpasswdFile.CreateAsync(("alice", "alice-pw"));
        // A valid bcrypt line of cost 31: verifying it would take days on one core.
        await File.AppendAllTextAsync(htpasswd, "mallory:$2y$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n");
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Auth:Htpasswd=" + htpasswd);
        using var http = Net.NewHttpClient();
        var url = $"{cache.Url}/v2/{fx.Small.Repository}/manifests/1";

        // More requests for mallory than there are verification slots, and alice among them.
        var mallory = Enumerable.Range(0, 2 * Environment.ProcessorCount).Select(_ => GetAsync(http, url, Net.Basic("mallory", "guess"))).ToList();
        using var alice = await GetAsync(http, url, Net.Basic("alice", "alice-pw")).WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, alice.StatusCode);
        foreach (var refused in await Task.WhenAll(mallory).WaitAsync(Bound))
            using (refused) Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_flood_of_wrong_logins_is_told_to_back_off_and_cannot_starve_a_real_users_login()
    {
        // Cost 10, as operators often choose: every wrong guess the cache verifies costs a core about 60 ms.
        var file = Path.Combine(Net.TempDir("htpasswd"), "htpasswd");
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("htpasswd"), ["-cbB", "-C", "10", file, "alice", "alice-pw"]);
        await ProcessRunner.RunCheckedAsync(ProcessRunner.Require("htpasswd"), ["-bB", "-C", "10", file, "admin", "admin-pw"]);
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, ["--Registry:Auth:Htpasswd=" + file]);
        using var attacker = Net.NewHttpClient(from: IPAddress.Parse("127.0.0.2"));
        using var http = Net.NewHttpClient();

        // 50 connections guessing passwords, of a real user and of names that do not exist.
        using var stop = new CancellationTokenSource();
        var answers = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, bool RetryAfter)>();
        var flood = Enumerable.Range(0, 50).Select(i => Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                using var answer = await GetAsync(attacker, cache.Url + "/v2/", Net.Basic(i % 2 == 0 ? "admin" : $"user{i}-{n}", $"guess-{i}-{n}"));
                answers.Add((answer.StatusCode, answer.Headers.RetryAfter is not null));
            }
        })).ToList();
        await Net.WaitUntilAsync(() => Task.FromResult(answers.Any(a => a.Status == HttpStatusCode.TooManyRequests)), Bound, "the flood told to back off");

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using (var login = await GetAsync(http, cache.Url + "/v2/", Net.Basic("alice", "alice-pw"))) Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        output.WriteLine($"alice's first login took {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms under the flood");
        await stop.CancelAsync();
        await Task.WhenAll(flood);

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.Unauthorized || a.Status == HttpStatusCode.TooManyRequests && a.RetryAfter, a.ToString()));
        // Only the first few guesses cost a verification; the rest were turned away before bcrypt.
        var metrics = await Exposition.ScrapeAsync(cache.Url);
        var verifiedWrong = metrics.Sum("cacheregistry_logins_total", ("result", "wrong"));
        output.WriteLine($"{answers.Count} guesses, {verifiedWrong} verified");
        Assert.InRange(verifiedWrong, 1, 100);
        Assert.True(answers.Count > 10 * verifiedWrong, $"{answers.Count} guesses, {verifiedWrong} verified");
    }

    [Fact]
    public async Task Warm_export_admin_warm_and_sync_work_on_a_cache_with_login()
    {
        var htpasswd = await HtpasswdFile.CreateAsync(("alice", "alice-pw"));
        var synced = $"{fx.DockerList.Repository}:{fx.DockerList.Tag}";
        // The rules let alice pull the library only; the server's own jobs pull what they were told.
        await using var cache = new CacheProcess(["--Registry:Upstreams:docker.io:Endpoints:0=" + fx.Upstream.Url, .. Rules(htpasswd), "--Registry:Admin:Token=t0ken",
            "--Registry:Sync:0:Image=" + synced, "--Registry:Sync:0:Interval=1h"]);
        await cache.StartAsync();

        var refused = await Cli.RunAsync("warm", "small:1", "--server", cache.Url);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("pass --creds USER:PASSWORD", refused.Output);
        var warmed = await Cli.RunAsync("warm", "small:1", "--server", cache.Url, "--creds", "alice:alice-pw");
        Assert.True(warmed.ExitCode == 0, warmed.Output);

        // For scripts: a file, or the environment, keeps the password off the command line.
        var dir = Net.TempDir("creds");
        var credsFile = Path.Combine(dir, "creds");
        await File.WriteAllTextAsync(credsFile, "alice:alice-pw\n");
        var exported = await Cli.RunAsync("export", "small:1", "--out", Path.Combine(dir, "out.tar"), "--server", cache.Url, "--creds-file", credsFile);
        Assert.True(exported.ExitCode == 0, exported.Output);
        var fromEnv = await ProcessRunner.RunAsync(Path.Combine(AppContext.BaseDirectory, "cacheregistry"), ["warm", "small:1", "--server", cache.Url],
            TimeSpan.FromMinutes(3), new Dictionary<string, string> { ["CACHEREGISTRY_CREDS"] = "alice:alice-pw" });
        Assert.True(fromEnv.ExitCode == 0, fromEnv.Output);

        // The admin API's warm run and the scheduled sync go through the cache's own /v2 as the server itself.
        using var http = Net.NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken");
        using var warm = await http.PostAsync($"{cache.Url}/admin/warm",
            new StringContent($"{{\"images\":[\"{fx.OciIndex.Repository}:{fx.OciIndex.Tag}\"]}}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, warm.StatusCode);
        var job = warm.Headers.Location!.ToString();
        await Net.WaitUntilAsync(async () => (await http.GetStringAsync(cache.Url + job)).Contains("\"done\"", StringComparison.Ordinal), Bound, "the warm job");
        using (var result = JsonDocument.Parse(await http.GetStringAsync(cache.Url + job)))
            Assert.All(result.RootElement.GetProperty("results").EnumerateArray(), r => Assert.Equal(JsonValueKind.Null, r.GetProperty("error").ValueKind));
        await Net.WaitUntilAsync(() => Task.FromResult(cache.Log.Contains($"sync docker.io/{synced}: ok", StringComparison.Ordinal)
            || cache.Log.Contains($"sync {synced}: ok", StringComparison.Ordinal)), Bound, "the scheduled sync");
        // Nobody else can be the server: its header from outside, or without the secret, is nothing.
        using var forged = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/v2/library/small/manifests/1") { Headers = { { "X-CacheRegistry-Internal", "guess" } } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(forged)).StatusCode);
    }

    [Fact]
    public async Task Anonymous_pulls_follow_the_rules_for_anonymous_when_allowed()
    {
        var htpasswd = await HtpasswdFile.CreateAsync(("alice", "alice-pw"));
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--Registry:Auth:Htpasswd=" + htpasswd, "--Registry:Auth:Anonymous=true",
            "--Registry:Auth:Rules:0:Users:0=anonymous", "--Registry:Auth:Rules:0:Repositories:0=docker.io/library/small",
            "--Registry:Auth:Rules:1:Users:0=*", "--Registry:Auth:Rules:1:Repositories:0=**");
        using var http = Net.NewHttpClient();
        using (var pulled = await http.GetAsync(cache.Url + "/v2/library/small/manifests/1")) pulled.EnsureSuccessStatusCode();
        using (var denied = await http.GetAsync(cache.Url + "/v2/library/big/manifests/1"))
            await ApiTests.AssertErrorAsync(denied, HttpStatusCode.Forbidden, "DENIED");
        using (var signedIn = await GetAsync(http, cache.Url + "/v2/library/big/manifests/1", Net.Basic("alice", "alice-pw"))) signedIn.EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task A_missing_htpasswd_file_or_unknown_group_stops_the_start_with_the_reason()
    {
        var result = await Cli.RunAsync("serve", "--Registry:Auth:Htpasswd=/nonexistent/htpasswd", "--Registry:Auth:Rules:0:Users:0=@nobody",
            "--Registry:Auth:Rules:0:Repositories:0=**", "--Registry:DataDir=" + Net.TempDir("auth-config"));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Registry:Auth:Htpasswd = '/nonexistent/htpasswd': there is no such file", result.Output);
        Assert.Contains("group @nobody is not in Registry:Auth:Groups", result.Output);
    }
}

using System.Net;
using System.Text.Json;
using CacheRegistry.Server.Dashboard;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// /ui in Debian's headless Chromium driven by Playwright: it loads without console errors,
/// shows what the API reports, and follows a pull and a running download without a reload.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Token = "t0ken-of-the-admin";

    [Fact]
    public async Task The_page_shows_the_numbers_the_api_reports_and_follows_a_download_without_reloading()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Ui:Enabled=true", "--Registry:Cache:MaxSize=1GiB",
            "--Registry:Availability:Enabled=true", "--Registry:Admin:Token=" + Token);
        using var http = Net.NewHttpClient();
        for (var i = 0; i < 2; i++) // a miss, then a hit
            using (var pulled = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/latest")) pulled.EnsureSuccessStatusCode();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 1100 } });
        var problems = new List<string>();
        page.Console += (_, message) => { if (message.Type is "error" or "warning") problems.Add($"console {message.Type}: {message.Text} ({message.Location})"); };
        page.PageError += (_, error) => problems.Add("page error: " + error);
        page.RequestFailed += (_, request) => problems.Add($"request failed: {request.Url} {request.Failure}");
        await page.GotoAsync(cache.Url + "/ui");

        var api = await OverviewAsync(http, cache);
        var totals = api.GetProperty("totals");
        await Assertions.Expect(page.GetByTestId("requests")).ToHaveTextAsync(totals.GetProperty("requests").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assertions.Expect(page.GetByTestId("hit-ratio")).ToHaveTextAsync("50.0 %");
        await Assertions.Expect(page.GetByTestId("storage")).ToContainTextAsync("of 1.0 GiB");
        await Assertions.Expect(page.GetByTestId("upstream-endpoint").Filter(new() { HasText = new Uri(upstream.Url).Authority })).ToContainTextAsync("up");
        await Assertions.Expect(page.GetByTestId("recent-pull")).ToHaveCountAsync(2);
        await Assertions.Expect(page.GetByTestId("recent-pull").First).ToContainTextAsync("docker.io/library/faulty:latest");

        // A download held halfway shows as a progress bar, then goes when it completes; no reload.
        upstream.Fault = BlobFault.Gated;
        var download = http.GetByteArrayAsync($"{cache.Url}/v2/faulty/blobs/{upstream.LayerDigest}");
        var fill = page.GetByTestId("fill");
        await Assertions.Expect(fill).ToContainTextAsync("of 512.0 KiB");
        Assert.Equal(upstream.Layer.Length, int.Parse(await fill.Locator("progress").GetAttributeAsync("max") ?? "0", System.Globalization.CultureInfo.InvariantCulture));
        upstream.Gate.SetResult();
        Assert.Equal(upstream.Layer, await download);
        await Assertions.Expect(fill).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("requests")).ToHaveTextAsync("3");
        await Assertions.Expect(page.GetByTestId("bytes-upstream")).ToContainTextAsync("KiB");

        // The tag disappears upstream: the availability check's finding shows up.
        upstream.ManifestStatus = 404;
        using (var check = new HttpRequestMessage(HttpMethod.Post, $"{cache.Url}/admin/availability/check"))
        {
            check.Headers.Authorization = new("Bearer", Token);
            using var checkedAnswer = await http.SendAsync(check);
            checkedAnswer.EnsureSuccessStatusCode();
        }
        await Assertions.Expect(page.GetByTestId("not-pullable")).ToContainTextAsync("docker.io/library/faulty:latest");
        await Assertions.Expect(page.GetByTestId("not-pullable")).ToContainTextAsync("tag_gone");

        var screenshot = Environment.GetEnvironmentVariable("CACHEREGISTRY_SCREENSHOT") ?? Path.Combine(Net.TempDir("ui"), "dashboard.png");
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 10_000);
        Assert.Empty(problems);
    }

    [Fact]
    public async Task Off_unless_enabled()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url);
        using var http = Net.NewHttpClient();
        using var page = await http.GetAsync($"{cache.Url}/ui");
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        using var data = await http.GetAsync($"{cache.Url}/ui/api/overview");
        Assert.Equal(HttpStatusCode.NotFound, data.StatusCode);
    }

    [Fact]
    public async Task Signature_tags_probed_and_not_found_are_not_listed_as_failed_pulls()
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Ui:Enabled=true");
        upstream.ManifestStatus = 404;
        using var http = Net.NewHttpClient();
        var probe = $"sha256-{upstream.ManifestDigest[7..]}.sig"; // what warm and cosign ask for beside every image
        using (var missing = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/{probe}")) Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using (var missing = await http.GetAsync($"{cache.Url}/v2/faulty/manifests/no-such-tag")) Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var pulls = JsonDocument.Parse(await http.GetStringAsync($"{cache.Url}/ui/api/overview")).RootElement.GetProperty("recentPulls").ToString();
        Assert.DoesNotContain(".sig", pulls);
        Assert.Contains("no-such-tag", pulls); // a tag a client wanted is still shown
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Forbidden)] // the proxy on this machine names no client: not the operator
    [InlineData("192.0.2.10", HttpStatusCode.Forbidden)]
    [InlineData("127.0.0.1", HttpStatusCode.OK)] // the chain says the client is local
    public async Task Behind_a_trusted_proxy_only_the_forwarded_chain_makes_a_client_local(string? forwardedFor, HttpStatusCode expected)
    {
        await using var upstream = await FaultyUpstream.StartAsync();
        await using var cache = await CacheServer.StartAsync(upstream.Url, "--Registry:Ui:Enabled=true", "--Registry:Limits:TrustedProxies:0=127.0.0.1");
        using var http = Net.NewHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{cache.Url}/ui/api/overview");
        if (forwardedFor is not null) request.Headers.Add("X-Forwarded-For", forwardedFor);
        using var answer = await http.SendAsync(request);
        Assert.Equal(expected, answer.StatusCode);
    }

    [Theory]
    [InlineData("127.0.0.1", null, null, 0)] // the operator on the machine itself
    [InlineData("::1", null, null, 0)]
    [InlineData("192.0.2.10", null, null, 403)] // no token configured: loopback only
    [InlineData("192.0.2.10", "s3cret", null, 401)]
    [InlineData("192.0.2.10", "s3cret", "Bearer wrong", 401)]
    [InlineData("192.0.2.10", "s3cret", "Bearer s3cret", 0)]
    public void Its_data_is_for_loopback_or_the_admin_token(string remote, string? token, string? authorization, int refused)
    {
        var ctx = new DefaultHttpContext();
        ctx.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        if (authorization is not null) ctx.Request.Headers.Authorization = authorization;
        var admin = new CacheRegistry.Server.Http.AdminOptions { Token = token };
        var status = 0;
        try
        {
            DashboardEndpoints.Gate(ctx, admin, new CacheRegistry.Server.Http.LimitsOptions());
        }
        catch (CacheRegistry.Oci.RegistryError e)
        {
            status = e.Status;
        }
        Assert.Equal(refused, status);
    }

    private static async Task<JsonElement> OverviewAsync(HttpClient http, CacheServer cache) =>
        JsonDocument.Parse(await http.GetStringAsync($"{cache.Url}/ui/api/overview")).RootElement;
}

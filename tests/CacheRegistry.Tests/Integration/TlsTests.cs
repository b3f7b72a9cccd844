using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using CacheRegistry.Server.Operations;
using CacheRegistry.Upstream;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// HTTPS from PEM files: skopeo and containerd verify the certificate against a CA the test made,
/// a rotated certificate is served without a restart, and plain HTTP can redirect.
/// </summary>
[Collection(IntegrationCollection.Name)]
public sealed class TlsTests(UpstreamFixture fx)
{
    [Fact]
    public async Task Skopeo_and_containerd_verify_the_certificate_and_a_rotated_one_is_served_without_a_restart()
    {
        using var certificates = new TestCertificates();
        var first = certificates.IssueServerCertificate();
        var httpPort = Net.FreePort();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--urls=https://127.0.0.1:0",
            "--Registry:Tls:Certificate=" + certificates.CertificatePath, "--Registry:Tls:Key=" + certificates.KeyPath, "--Registry:Tls:HttpPort=" + httpPort);
        Assert.Equal(first, await ServedSerialAsync(cache.Address, certificates.CaPath));

        var skopeo = ProcessRunner.Require("skopeo");
        string[] copy = ["copy", "--quiet", $"docker://{cache.Address}/{fx.Small.Repository}:{fx.Small.Tag}", $"dir:{Net.TempDir("tls-pull")}"];
        var unverified = await ProcessRunner.RunAsync(skopeo, copy);
        Assert.NotEqual(0, unverified.ExitCode);
        Assert.Contains("certificate", unverified.Output, StringComparison.OrdinalIgnoreCase);
        await ProcessRunner.RunCheckedAsync(skopeo, ["copy", "--src-cert-dir", certificates.CaDir, .. copy[1..]]);

        await using var containerd = new ContainerdDaemon();
        await containerd.StartAsync();
        // The hosts.toml files client-config prints for a cache behind TLS, with the origins moved to a dead port.
        var rendered = ClientConfig.Render(cache.Address, https: true, cache.Service<UpstreamSet>(), "containerd", certificates.CaPath);
        Assert.Contains($"ca = \"{certificates.CaPath}\"", rendered);
        containerd.UseClientConfig(rendered, toml => Regex.Replace(toml, "server = \"[^\"]*\"", $"server = \"http://127.0.0.1:{Net.FreePort()}\""));
        var reference = $"docker.io/{fx.ForContainerd.Repository}:{fx.ForContainerd.Tag}";
        await containerd.PullAsync(reference);
        Assert.Equal(fx.ForContainerd.Digest, await containerd.DigestOfAsync(reference));

        // cert-manager renews: the new certificate is served within seconds, on the same listener.
        var second = certificates.IssueServerCertificate();
        Assert.NotEqual(first, second);
        await Net.WaitUntilAsync(async () => await ServedSerialAsync(cache.Address, certificates.CaPath) == second, TimeSpan.FromSeconds(30), "the rotated certificate served");
        await ProcessRunner.RunCheckedAsync(skopeo, ["copy", "--src-cert-dir", certificates.CaDir, .. copy[1..]]);

        // Plain HTTP: registry requests are sent to HTTPS, probes are answered.
        using var http = Net.NewHttpClient();
        using (var redirected = await http.GetAsync($"http://127.0.0.1:{httpPort}/v2/library/small/manifests/1?ns=docker.io"))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, redirected.StatusCode);
            Assert.Equal($"https://127.0.0.1:{cache.Port}/v2/library/small/manifests/1?ns=docker.io", redirected.Headers.Location?.ToString());
        }
        using (var probe = await http.GetAsync($"http://127.0.0.1:{httpPort}/healthz")) Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
    }

    [Theory]
    [InlineData("-tls1_2", "ECDHE-ECDSA-AES128-GCM-SHA256", true)]
    [InlineData("-tls1_2", "ECDHE-ECDSA-CHACHA20-POLY1305", true)]
    [InlineData("-tls1_3", null, true)]
    [InlineData("-tls1_2", "ECDHE-ECDSA-AES128-SHA", false)] // CBC
    [InlineData("-tls1_2", "ECDHE-ECDSA-AES256-SHA384", false)] // CBC
    public async Task Only_tls_1_2_with_forward_secret_aead_suites_and_tls_1_3_are_offered(string version, string? cipher, bool accepted)
    {
        using var certificates = new TestCertificates();
        certificates.IssueServerCertificate();
        await using var cache = await CacheServer.StartAsync(fx.Upstream.Url, "--urls=https://127.0.0.1:0",
            "--Registry:Tls:Certificate=" + certificates.CertificatePath, "--Registry:Tls:Key=" + certificates.KeyPath);
        var handshake = await ProcessRunner.RunAsync(ProcessRunner.Require("openssl"),
            ["s_client", "-connect", cache.Address, version, .. cipher is null ? Array.Empty<string>() : ["-cipher", cipher], "-brief"],
            TimeSpan.FromSeconds(20), stdin: "");
        Assert.True(accepted == (handshake.ExitCode == 0), handshake.Output);
    }

    [Fact]
    public async Task A_key_that_does_not_load_stops_the_start_with_the_reason()
    {
        using var certificates = new TestCertificates();
        certificates.IssueServerCertificate();
        File.WriteAllText(certificates.KeyPath, "not a key");
        var result = await Cli.RunAsync("serve", "--Registry:Tls:Certificate=" + certificates.CertificatePath, "--Registry:Tls:Key=" + certificates.KeyPath,
            "--Registry:DataDir=" + Net.TempDir("tls-config"));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("cannot be read as a PEM certificate and key", result.Output);
    }

    /// <summary>The serial number of the certificate the server presents now (on a new connection), checked against the test's CA.</summary>
    private static async Task<string?> ServedSerialAsync(string address, string caPath)
    {
        string? serial = null;
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
        using var http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null) return false;
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    serial = certificate.GetSerialNumberString();
                    return chain.Build(new X509Certificate2(certificate));
                },
            },
        });
        using (await http.GetAsync($"https://{address}/healthz")) { }
        return serial;
    }
}

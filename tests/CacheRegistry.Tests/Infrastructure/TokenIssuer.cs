using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// A bearer-token service for distribution's token auth: RS256 JWTs whose x5c names a certificate
/// in the registry's root bundle. Anonymous callers may pull "public/…"; "reader" may pull all;
/// "pusher" may push (to seed). It counts the tokens it issues.
/// </summary>
public sealed class TokenIssuer : IAsyncDisposable
{
    public const string Service = "test-registry";
    public const string Issuer = "test-issuer";
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;
    private readonly WebApplication _app;
    private int _issued;

    private TokenIssuer()
    {
        var request = new CertificateRequest("CN=cacheregistry-test-token-issuer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _app = LoopbackApp.Create();
        _app.MapGet("/token", Issue);
    }

    public string Realm { get; private set; } = "";
    public int Issued => Volatile.Read(ref _issued);

    public static async Task<TokenIssuer> StartAsync()
    {
        var issuer = new TokenIssuer();
        issuer.Realm = await LoopbackApp.StartAsync(issuer._app) + "/token";
        return issuer;
    }

    /// <summary>The auth section of a docker-registry config trusting this issuer.</summary>
    public string RegistryConfig(string dir)
    {
        var bundle = Path.Combine(dir, "token-root.pem");
        File.WriteAllText(bundle, _certificate.ExportCertificatePem());
        return $"""
            auth:
              token:
                realm: {Realm}
                service: {Service}
                issuer: {Issuer}
                rootcertbundle: {bundle}
            """;
    }

    private IResult Issue(HttpContext ctx)
    {
        var user = BasicUser(ctx.Request.Headers.Authorization.ToString());
        if (user == "invalid") return Results.Unauthorized();
        var access = new List<object>();
        foreach (var scope in ctx.Request.Query["scope"])
        {
            var parts = scope!.Split(':');
            if (parts.Length != 3 || parts[0] != "repository") continue;
            var wanted = parts[2].Split(',');
            var granted = wanted.Where(a => a == "pull" && (user is "reader" or "pusher" || parts[1].StartsWith("public/", StringComparison.Ordinal))
                                            || user == "pusher").ToArray();
            access.Add(new { type = "repository", name = parts[1], actions = granted });
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new { alg = "RS256", typ = "JWT", x5c = new[] { Convert.ToBase64String(_certificate.RawData) } };
        var claims = new { iss = Issuer, sub = user ?? "", aud = Service, exp = now + 300, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access };
        var signingInput = B64(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + B64(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Interlocked.Increment(ref _issued);
        var token = signingInput + "." + B64(signature);
        return Results.Json(new { token, access_token = token, expires_in = 300, issued_at = DateTime.UtcNow.ToString("O") });
    }

    private static string? BasicUser(string header)
    {
        if (!header.StartsWith("Basic ", StringComparison.Ordinal)) return null;
        var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..])).Split(':', 2);
        return (pair[0], pair.ElementAtOrDefault(1)) switch
        {
            ("reader", "reader-secret") => "reader",
            ("pusher", "pusher-secret") => "pusher",
            _ => "invalid",
        };
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await LoopbackApp.StopAsync(_app);
        _certificate.Dispose();
        _key.Dispose();
    }
}

using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace CacheRegistry.Server.Hosting;

/// <summary>
/// The server certificate from Registry:Tls's PEM files, read again when either file changes
/// (looked at no more than every five seconds, on a handshake): a rotated certificate is served
/// without a restart, and a half-written pair keeps the previous one in service.
/// </summary>
internal sealed partial class TlsCertificate(IOptions<TlsOptions> tls, TimeProvider time, ILogger<TlsCertificate> log)
{
    private readonly TlsOptions options = tls.Value;
    private static readonly TimeSpan LookEvery = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The suites offered: TLS 1.3's, and TLS 1.2's with forward secrecy and an AEAD cipher (GCM,
    /// ChaCha20-Poly1305) only — no CBC suites, whose padding has been attacked again and again.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Interoperability", "CA1416", Justification = "The server runs on Linux, where OpenSSL applies the policy.")]
    public static readonly System.Net.Security.CipherSuitesPolicy AeadOnly = new(
    [
        System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256, System.Net.Security.TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        System.Net.Security.TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        System.Net.Security.TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, System.Net.Security.TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        System.Net.Security.TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        System.Net.Security.TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, System.Net.Security.TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        System.Net.Security.TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]);
    private readonly Lock _reload = new();
    private (X509Certificate2 Certificate, DateTime CertificateTime, DateTime KeyTime)? _loaded;
    private DateTimeOffset _nextLook;

    public bool IsOn => !string.IsNullOrEmpty(options.Certificate);

    public X509Certificate2 Current
    {
        get
        {
            var now = time.GetUtcNow();
            if (_loaded is { } loaded && now < _nextLook) return loaded.Certificate;
            lock (_reload)
            {
                if (_loaded is { } again && now < _nextLook) return again.Certificate;
                _nextLook = now + LookEvery;
                var (certificateTime, keyTime) = (File.GetLastWriteTimeUtc(options.Certificate!), File.GetLastWriteTimeUtc(options.Key!));
                if (_loaded is { } current && current.CertificateTime == certificateTime && current.KeyTime == keyTime) return current.Certificate;
                try
                {
                    var certificate = Load(options);
                    _loaded = (certificate, certificateTime, keyTime);
                    Log.Loaded(log, options.Certificate!, certificate.Subject, certificate.NotAfter);
                }
                catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or ArgumentException && _loaded is not null)
                {
                    Log.ReloadFailed(log, options.Certificate!, e.Message);
                }
                return _loaded!.Value.Certificate;
            }
        }
    }

    /// <summary>Reads the pair, for use and for the start-up check; throws with the reason when it cannot.</summary>
    public static X509Certificate2 Load(TlsOptions options) => X509Certificate2.CreateFromPemFile(options.Certificate!, options.Key);

    /// <summary>The rules of <c>Registry:Tls</c>: both files, readable, a key that fits.</summary>
    internal sealed class Rules : OptionRules<TlsOptions>
    {
        protected override void Check(TlsOptions o, OptionProblems p)
        {
            if (string.IsNullOrEmpty(o.Certificate) != string.IsNullOrEmpty(o.Key))
            {
                p.Add("Registry:Tls:Certificate and Registry:Tls:Key: set both (PEM files) or neither");
                return;
            }
            if (string.IsNullOrEmpty(o.Certificate)) return;
            try
            {
                using var certificate = Load(o);
                if (!certificate.HasPrivateKey) p.Add($"Registry:Tls:Key = '{o.Key}': no private key for the certificate");
            }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or ArgumentException or UnauthorizedAccessException)
            {
                p.Add($"Registry:Tls:Certificate = '{o.Certificate}', Key = '{o.Key}': cannot be read as a PEM certificate and key ({e.Message})");
            }
            if (o.HttpPort is < 1 or > 65535) p.Add($"Registry:Tls:HttpPort = {o.HttpPort}: expected a port number");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 820, Level = LogLevel.Information, Message = "tls: serving {Path} ({Subject}, valid until {NotAfter:u})")]
        public static partial void Loaded(ILogger logger, string path, string subject, DateTime notAfter);

        [LoggerMessage(EventId = 821, Level = LogLevel.Warning, Message = "tls: {Path} changed but cannot be read ({Reason}); the previous certificate stays in service")]
        public static partial void ReloadFailed(ILogger logger, string path, string reason);
    }
}

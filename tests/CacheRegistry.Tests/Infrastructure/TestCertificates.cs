using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A CA made for the test, and server certificates for 127.0.0.1 it signs, written as PEM files.</summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _ca;

    public TestCertificates()
    {
        Dir = Net.TempDir("tls");
        CaDir = Path.Combine(Dir, "ca");
        Directory.CreateDirectory(CaDir);
        var request = new CertificateRequest("CN=CacheRegistry test CA", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(2));
        File.WriteAllText(CaPath, _ca.ExportCertificatePem());
    }

    public string Dir { get; }
    /// <summary>A directory holding only the CA as ca.crt (skopeo's --cert-dir reads every *.crt there as a CA, *.key as a client key).</summary>
    public string CaDir { get; }
    public string CaPath => Path.Combine(CaDir, "ca.crt");
    public string CertificatePath => Path.Combine(Dir, "tls.crt");
    public string KeyPath => Path.Combine(Dir, "tls.key");

    /// <summary>Writes a new server certificate and key (as cert-manager would) and returns its serial number.</summary>
    public string IssueServerCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var certificate = request.Create(_ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
        // Key first, then the certificate: a reader that sees the new certificate finds its key.
        File.WriteAllText(KeyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(CertificatePath, certificate.ExportCertificatePem());
        return certificate.SerialNumber;
    }

    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
    }
}

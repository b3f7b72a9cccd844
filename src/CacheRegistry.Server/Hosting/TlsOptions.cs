namespace CacheRegistry.Server.Hosting;

/// <summary><c>Registry:Tls</c>: HTTPS from PEM files (cert-manager's tls.crt and tls.key), re-read when they change.</summary>
internal sealed class TlsOptions
{
    public const string Section = "Registry:Tls";

    /// <summary>The certificate chain, PEM (the server's certificate first).</summary>
    public string? Certificate { get; set; }

    /// <summary>The private key, PEM (PKCS#8, or RSA/EC).</summary>
    public string? Key { get; set; }

    /// <summary>Also listen for plain HTTP on this port and redirect it to HTTPS (probes and /metrics are answered there).</summary>
    public int? HttpPort { get; set; }
}

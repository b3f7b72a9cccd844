using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>
/// Why a signature policy lets a digest be served in a scope (a policy and a repository):
/// <c>verified</c> (its signature held, <see cref="Key"/> made it), <c>index</c> (listed by a verified
/// index), <c>image</c> (a blob of an admitted manifest) or <c>artifact</c> (a signature, attestation or
/// SBOM, which a policy does not gate).
/// </summary>
public sealed record Admission(Digest Digest, string How, string? Key, DateTimeOffset At);

/// <summary>
/// What signature policies admitted, kept across restarts: digests are immutable, so a digest
/// verified once stays verified for the same policy and keys.
/// </summary>
public interface IAdmissions
{
    Task<Admission?> GetAdmissionAsync(string scope, Digest digest, CancellationToken ct);
    Task AdmitAsync(string scope, IReadOnlyCollection<Admission> admissions, CancellationToken ct);
}

using CacheRegistry.Oci;

namespace CacheRegistry.Storage;

/// <summary>A blob store that can send clients straight to its own URL for a stored blob.</summary>
public interface IBlobRedirector
{
    /// <summary>A URL the client may GET the blob from, or null to stream it through the cache.</summary>
    string? RedirectUrl(Digest digest);
}

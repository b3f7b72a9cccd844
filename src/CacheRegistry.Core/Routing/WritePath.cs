using CacheRegistry.Oci;

namespace CacheRegistry.Routing;

public enum WriteKind { UploadStart, Upload, Manifest, Blob }

/// <summary>
/// A path of the distribution API's write side after <c>/v2/</c>: an upload session started
/// (<c>name/blobs/uploads/</c>), an upload's own URL (<c>name/blobs/uploads/&lt;id&gt;</c>), a
/// manifest (<c>name/manifests/&lt;ref&gt;</c>) or a blob (<c>name/blobs/&lt;digest&gt;</c>).
/// <see cref="Tail"/> is what follows the name, sent on to the registry unchanged.
/// </summary>
public sealed record WritePath(WriteKind Kind, string Name, string Tail, string Reference)
{
    private const string Uploads = "/blobs/uploads";

    /// <exception cref="RegistryError">NAME_INVALID, DIGEST_INVALID, NAME_UNKNOWN for what is not a write endpoint.</exception>
    public static WritePath Parse(string rest)
    {
        var trimmed = rest.TrimEnd('/');
        if (trimmed.EndsWith(Uploads, StringComparison.Ordinal))
            return new(WriteKind.UploadStart, Named(trimmed[..^Uploads.Length]), "blobs/uploads/", "");
        var uploads = trimmed.LastIndexOf(Uploads + "/", StringComparison.Ordinal);
        if (uploads > 0)
        {
            var id = trimmed[(uploads + Uploads.Length + 1)..];
            // Registries name sessions with a UUID; anything with a path in it is not one.
            if (id.Length is 0 or > 256 || id.Contains('/') || id.Contains(".."))
                throw RegistryError.BadRequest("BLOB_UPLOAD_INVALID", $"'{RegistryPath.Truncate(id)}' is not an upload session");
            return new(WriteKind.Upload, Named(trimmed[..uploads]), $"blobs/uploads/{id}", id);
        }
        var read = RegistryPath.Parse(rest);
        return read.Kind switch
        {
            RequestKind.Manifest => new(WriteKind.Manifest, read.Name, $"manifests/{read.Reference}", read.Reference),
            RequestKind.Blob => new(WriteKind.Blob, read.Name, $"blobs/{read.Reference}", read.Reference),
            _ => throw RegistryError.NameUnknown($"'/v2/{RegistryPath.Truncate(rest)}' is not an endpoint that takes writes"),
        };
    }

    private static string Named(string name) => RegistryPath.Parse(name + "/manifests/latest").Name;
}

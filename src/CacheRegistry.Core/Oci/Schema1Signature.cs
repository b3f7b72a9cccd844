using System.Text.Json;

namespace CacheRegistry.Oci;

/// <summary>
/// A Docker schema 1 signed manifest (libtrust JWS) is named by the digest of its payload, the
/// manifest without its <c>signatures</c>, not by the digest of the bytes served. The payload is
/// the first <c>formatLength</c> bytes followed by <c>formatTail</c>, both from a signature's
/// protected header. Signatures themselves are not checked: clients that use schema 1 do that.
/// </summary>
public static class Schema1Signature
{
    /// <summary>The signed payload, or null when <paramref name="content"/> is not a schema 1 JWS.</summary>
    public static byte[]? Payload(ReadOnlyMemory<byte> content)
    {
        try
        {
            using var doc = JsonDocument.Parse(content);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("schemaVersion", out var version) || version.ValueKind != JsonValueKind.Number
                || version.GetRawText() != "1" || !root.TryGetProperty("signatures", out var signatures) || signatures.ValueKind != JsonValueKind.Array
                || signatures.GetArrayLength() == 0 || !signatures[0].TryGetProperty("protected", out var header) || header.ValueKind != JsonValueKind.String)
                return null;
            using var format = JsonDocument.Parse(Base64Url(header.GetString()!));
            var f = format.RootElement;
            if (!f.TryGetProperty("formatLength", out var length) || !length.TryGetInt32(out var formatLength)
                || !f.TryGetProperty("formatTail", out var tail) || tail.ValueKind != JsonValueKind.String
                || formatLength <= 0 || formatLength > content.Length)
                return null;
            return [.. content.Span[..formatLength], .. Base64Url(tail.GetString()!)];
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - padded.Length % 4) % 4));
    }
}

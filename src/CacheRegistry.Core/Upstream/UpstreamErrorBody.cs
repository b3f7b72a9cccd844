using System.Text.Json;

namespace CacheRegistry.Upstream;

/// <summary>Reads the first OCI error code of a small upstream error body, if there is one.</summary>
internal static class UpstreamErrorBody
{
    public static async Task<string?> TryReadCodeAsync(HttpResponseMessage response, TimeProvider time, CancellationToken ct)
    {
        try
        {
            if (response.Content.Headers.ContentLength is not (> 0 and < 65536)) return null;
            using var deadline = new Common.Deadline(TimeSpan.FromSeconds(2), time, ct);
            var bytes = await response.Content.ReadAsByteArrayAsync(deadline.Token);
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.TryGetProperty("errors", out var errors) && errors.GetArrayLength() > 0
                && errors[0].TryGetProperty("code", out var code) ? code.GetString() : null;
        }
        catch (Exception e) when (e is JsonException or HttpRequestException or OperationCanceledException or IOException)
        {
            return null;
        }
    }
}

using System.Text.Json.Serialization;

namespace CacheRegistry.Server.Http;

/// <summary>One entry of an OCI error body.</summary>
internal sealed record ErrorEntry(
    [property: JsonPropertyName("code")] string Code,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("detail")] object? Detail);

/// <summary>The OCI error body: <c>{"errors":[{"code","message","detail"}]}</c>.</summary>
internal sealed record ErrorBody([property: JsonPropertyName("errors")] IReadOnlyList<ErrorEntry> Errors);

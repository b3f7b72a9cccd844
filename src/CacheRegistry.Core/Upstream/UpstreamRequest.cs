namespace CacheRegistry.Upstream;

/// <summary>One call of the distribution API: <c>METHOD /v2/{Name}/{Path}</c>, as the typed calls of <see cref="UpstreamClient"/> build it.</summary>
/// <param name="RangeTo">The last byte wanted (inclusive), with <paramref name="RangeFrom"/>; null for the rest of the blob.</param>
/// <param name="Only">The one endpoint to ask (a pool's segment): no other is tried when it fails.</param>
internal sealed record UpstreamRequest(HttpMethod Method, string Name, string Path, IReadOnlyList<string>? Accept, long? RangeFrom, bool OriginOnly,
    long? RangeTo = null, UpstreamEndpoint? Only = null);

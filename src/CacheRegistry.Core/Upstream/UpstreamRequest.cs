namespace CacheRegistry.Upstream;

/// <summary>One call of the distribution API: <c>METHOD /v2/{Name}/{Path}</c>, as the typed calls of <see cref="UpstreamClient"/> build it.</summary>
internal sealed record UpstreamRequest(HttpMethod Method, string Name, string Path, IReadOnlyList<string>? Accept, long? RangeFrom, bool OriginOnly);

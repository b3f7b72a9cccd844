using System.Text.Json.Serialization;

namespace CacheRegistry.Server.Http;

/// <summary>Source-generated serialisation of the registry's own JSON bodies (no reflection on the hot path).</summary>
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(TagList))]
[JsonSerializable(typeof(string))]
internal sealed partial class RegistryJson : JsonSerializerContext;

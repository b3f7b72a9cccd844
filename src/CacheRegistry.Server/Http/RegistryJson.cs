using System.Text.Json.Serialization;

namespace CacheRegistry.Server.Http;

/// <summary>Source-generated serialisation of the registry's own JSON bodies (no reflection on the hot path).</summary>
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(TagList))]
[JsonSerializable(typeof(Catalog))]
[JsonSerializable(typeof(string))]
internal sealed partial class RegistryJson : JsonSerializerContext
{
    /// <summary>Writes '+' and quotes in messages as they are (media types, names); the bodies are JSON, never HTML.</summary>
    public static RegistryJson Relaxed { get; } = new(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>
/// Reads an OTLP <c>ExportTraceServiceRequest</c> from the protobuf wire format: just the fields
/// the tests look at (opentelemetry/proto/trace/v1/trace.proto), everything else skipped.
/// </summary>
public static class OtlpDecoder
{
    public static IEnumerable<ReceivedSpan> Spans(byte[] request)
    {
        foreach (var (field, resourceSpans) in Fields(request))
        {
            if (field != 1) continue;
            var service = "";
            var spans = new List<byte[]>();
            foreach (var (f, v) in Fields(resourceSpans))
            {
                if (f == 1) service = Attributes(v).GetValueOrDefault("service.name", "");
                if (f == 2) spans.AddRange(Fields(v).Where(x => x.Field == 2).Select(x => x.Value)); // ScopeSpans.spans
            }
            foreach (var span in spans) yield return Span(span, service);
        }
    }

    private static ReceivedSpan Span(byte[] span, string service)
    {
        string trace = "", id = "", parent = "", name = "";
        int kind = 0, status = 0;
        var attributes = new Dictionary<string, string>();
        foreach (var (f, v) in Fields(span))
        {
            switch (f)
            {
                case 1: trace = Convert.ToHexStringLower(v); break;
                case 2: id = Convert.ToHexStringLower(v); break;
                case 4: parent = Convert.ToHexStringLower(v); break;
                case 5: name = Encoding.UTF8.GetString(v); break;
                case 6: kind = (int)Varint(v); break;
                case 9: var (k, value) = KeyValue(v); attributes[k] = value; break;
                case 15: status = (int)Fields(v).Where(x => x.Field == 3).Select(x => Varint(x.Value)).FirstOrDefault(); break;
            }
        }
        return new ReceivedSpan(trace, id, parent, name, kind, status, attributes, service);
    }

    private static Dictionary<string, string> Attributes(byte[] resource) =>
        Fields(resource).Where(x => x.Field == 1).Select(x => KeyValue(x.Value)).ToDictionary(x => x.Key, x => x.Value);

    private static (string Key, string Value) KeyValue(byte[] kv)
    {
        string key = "", value = "";
        foreach (var (f, v) in Fields(kv))
        {
            if (f == 1) key = Encoding.UTF8.GetString(v);
            if (f != 2) continue;
            foreach (var (af, av) in Fields(v)) // AnyValue
            {
                value = af switch
                {
                    1 => Encoding.UTF8.GetString(av),
                    2 => Varint(av) != 0 ? "true" : "false",
                    3 => ((long)Varint(av)).ToString(CultureInfo.InvariantCulture),
                    4 => BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64LittleEndian(av)).ToString(CultureInfo.InvariantCulture),
                    _ => value,
                };
            }
        }
        return (key, value);
    }

    /// <summary>The fields of one message; varints and fixed values come back as their raw bytes.</summary>
    private static IEnumerable<(int Field, byte[] Value)> Fields(byte[] message)
    {
        var at = 0;
        while (at < message.Length)
        {
            var tag = ReadVarint(message, ref at);
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    var start = at;
                    ReadVarint(message, ref at);
                    yield return (field, message[start..at]);
                    break;
                case 1:
                    yield return (field, message[at..(at + 8)]);
                    at += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref at);
                    yield return (field, message[at..(at + length)]);
                    at += length;
                    break;
                case 5:
                    yield return (field, message[at..(at + 4)]);
                    at += 4;
                    break;
                default:
                    throw new FormatException($"wire type {tag & 7} at byte {at}");
            }
        }
    }

    private static ulong Varint(byte[] bytes)
    {
        var at = 0;
        return ReadVarint(bytes, ref at);
    }

    private static ulong ReadVarint(byte[] bytes, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
    }
}

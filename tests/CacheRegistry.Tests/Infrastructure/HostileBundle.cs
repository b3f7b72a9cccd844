using System.Formats.Tar;
using System.Text;
using System.Text.Json;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>OCI layout tars for import tests, well-formed or hostile: traversal names, links, a lying header, missing blobs.</summary>
public static class HostileBundle
{
    /// <summary>A tar of the given regular-file entries.</summary>
    public static async Task WriteAsync(string path, IEnumerable<(string Name, byte[] Content)> entries, IEnumerable<(string Name, string Target)>? symlinks = null)
    {
        await using var file = File.Create(path);
        await using var tar = new TarWriter(file, TarEntryFormat.Ustar);
        foreach (var (name, content) in entries)
            await tar.WriteEntryAsync(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
        foreach (var (name, target) in symlinks ?? [])
            await tar.WriteEntryAsync(new UstarTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target });
    }

    /// <summary>The entries of an image's layout, named <paramref name="name"/>, leaving out <paramref name="omit"/> blobs (its largest first).</summary>
    public static List<(string Name, byte[] Content)> Of(TestImage image, string name, int omit = 0)
    {
        var blobs = Directory.EnumerateFiles(Path.Combine(image.LayoutDir, "blobs", "sha256"))
            .Select(f => new FileInfo(f)).OrderByDescending(f => f.Length).Skip(omit)
            .Select(f => ($"blobs/sha256/{f.Name}", File.ReadAllBytes(f.FullName)));
        var top = File.ReadAllBytes(TestImage.BlobPath(image.LayoutDir, image.Digest));
        var index = JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2,
            manifests = new[]
            {
                new { mediaType = image.MediaType, digest = image.Digest, size = top.Length, annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = name } },
            },
        });
        return [("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()), ("index.json", index), .. blobs];
    }

    /// <summary>A tar whose index.json header claims <paramref name="size"/> bytes, followed by almost nothing.</summary>
    public static async Task WriteLyingHeaderAsync(string path, long size)
    {
        var header = new byte[512];
        Encoding.ASCII.GetBytes("index.json").CopyTo(header, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 116);
        Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(header, 124);
        Encoding.ASCII.GetBytes("00000000000\0").CopyTo(header, 136);
        header[156] = (byte)'0';
        Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(header, 257);
        for (var i = 148; i < 156; i++) header[i] = (byte)' ';
        var sum = header.Sum(b => (int)b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        await File.WriteAllBytesAsync(path, [.. header, .. new byte[1024]]);
    }
}

using CacheRegistry.Oci;

namespace CacheRegistry.Tests.Unit;

public sealed class ByteRangeTests
{
    [Theory]
    [InlineData("bytes=0-9", 100, 0, 10)]
    [InlineData("bytes=90-", 100, 90, 10)]
    [InlineData("bytes=90-500", 100, 90, 10)]
    [InlineData("bytes=-5", 100, 95, 5)]
    [InlineData("bytes=-500", 100, 0, 100)]
    [InlineData("BYTES= 3-3", 100, 3, 1)]
    public void Satisfiable_ranges(string header, long size, long start, long length) =>
        Assert.Equal(new ByteRange(start, length), ByteRange.Parse(header, size));

    [Fact]
    public void No_header_means_the_whole_blob() => Assert.Null(ByteRange.Parse(null, 10));

    [Theory]
    [InlineData("bytes=100-", 100)]
    [InlineData("bytes=5-2", 100)]
    [InlineData("bytes=0-1,3-4", 100)]
    [InlineData("lines=0-1", 100)]
    [InlineData("bytes=a-b", 100)]
    [InlineData("bytes=-0", 100)]
    [InlineData("bytes=1", 100)]
    [InlineData("bytes=-1", 0)]
    public void Malformed_or_unsatisfiable_ranges_are_416(string header, long size)
    {
        var e = Assert.Throws<RegistryError>(() => ByteRange.Parse(header, size));
        Assert.Equal((416, "RANGE_INVALID", size), (e.Status, e.Code, e.UnsatisfiedSize!.Value));
    }
}

using CacheRegistry.Server.Telemetry.Logging;
using Microsoft.Extensions.Configuration;

namespace CacheRegistry.Tests.Unit;

public sealed class HitLogSamplingTests
{
    [Theory]
    [InlineData("1", 1000)]
    [InlineData("0", 0)]
    [InlineData("0.01", 10)]
    [InlineData("0.25", 250)]
    [InlineData("not a number", 1000)] // a bad value writes everything rather than hide lines
    [InlineData(null, 10)] // the default: one in a hundred
    public void Takes_the_configured_share_spread_evenly(string? share, int expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection([new(HitLogSampling.Key, share)]).Build();
        using var sampling = new HitLogSampling(config);
        Assert.Equal(expected, Enumerable.Range(0, 1000).Count(_ => sampling.Take()));
    }
}

using CacheRegistry.Cache;
using CacheRegistry.Cluster;
using CacheRegistry.Maintenance;
using CacheRegistry.Oci;
using CacheRegistry.Server.Storage;
using CacheRegistry.Server.Storage.Redis;
using CacheRegistry.Storage;
using CacheRegistry.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CacheRegistry.Tests.Contracts;

/// <summary>
/// What a metadata store that replicas share must do beyond <see cref="MetadataStoreContract"/>:
/// shared values and counters, purge notices, fill leases and maintenance locks, each seen from two
/// replicas (two connections with their own replica names on one store).
/// </summary>
public abstract class SharedMetadataContract
{
    /// <summary>One replica's view of the shared store.</summary>
    protected sealed record Replica(ISharedState Shared, IPurgeNotifier Purges, IFillLease Leases, IMaintenanceLock Locks);

    /// <summary>A new replica on the store; <paramref name="time"/> drives its timers (lease renewal).</summary>
    protected abstract Replica Join(RegistryOptions options, TimeProvider time);

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly string _key = $"k{Guid.NewGuid():N}";

    private Replica Join(TimeProvider? time = null, TimeSpan? leaseTtl = null, string? advertise = null) =>
        Join(new RegistryOptions
        {
            Fill = new FillOptions { LeaseTtl = leaseTtl ?? TimeSpan.FromSeconds(30) },
            Cluster = new ClusterOptions { AdvertiseUrl = advertise, Secret = advertise is null ? null : "s3cret-s3cret-s3cret" },
        }, time ?? TimeProvider.System);

    private static Digest NewDigest() => Digest.Sha256Of(Guid.NewGuid().ToByteArray());

    [Fact]
    public async Task A_value_one_replica_sets_the_other_reads_until_it_expires()
    {
        var (a, b) = (Join(), Join());
        Assert.Null(await b.Shared.GetAsync(_key, default));
        await a.Shared.SetAsync(_key, "token", DateTimeOffset.UtcNow.AddMinutes(5), default);
        Assert.Equal("token", await b.Shared.GetAsync(_key, default));

        await a.Shared.SetAsync(_key + "past", "late", DateTimeOffset.UtcNow.AddSeconds(-1), default);
        Assert.Null(await b.Shared.GetAsync(_key + "past", default));

        await a.Shared.SetAsync(_key + "short", "brief", DateTimeOffset.UtcNow.AddMilliseconds(300), default);
        await Net.WaitUntilAsync(async () => await b.Shared.GetAsync(_key + "short", default) is null, Patience, "a value past its expiry to be gone");
    }

    [Fact]
    public async Task Counters_add_up_across_replicas()
    {
        var (a, b) = (Join(), Join());
        var until = DateTimeOffset.UtcNow.AddMinutes(5);
        Assert.Equal(100, await a.Shared.AddAsync(_key, 100, until, default));
        Assert.Equal(150, await b.Shared.AddAsync(_key, 50, until, default));
        Assert.Equal(120, await a.Shared.AddAsync(_key, -30, until, default));
    }

    [Fact]
    public async Task A_purge_notice_reaches_every_replica()
    {
        var (a, b) = (Join(), Join());
        var heardByA = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var heardByB = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Purges.Subscribe(() => heardByA.TrySetResult());
        b.Purges.Subscribe(() => heardByB.TrySetResult());
        // A subscription is sent when the store answers; publish until both have heard one.
        await Net.WaitUntilAsync(async () =>
        {
            await a.Purges.PublishAsync(default);
            return heardByA.Task.IsCompleted && heardByB.Task.IsCompleted;
        }, Patience, "both replicas to hear a purge");
    }

    [Fact]
    public async Task One_replica_holds_a_digest_s_lease_the_other_is_told_who_and_where()
    {
        var digest = NewDigest();
        var (a, b) = (Join(advertise: "http://10.0.0.1:5000"), Join());

        var first = await a.Leases.TryAcquireAsync(digest, default);
        Assert.NotNull(first.Held);
        var second = await b.Leases.TryAcquireAsync(digest, default);
        Assert.Null(second.Held);
        Assert.False(string.IsNullOrEmpty(second.Holder));
        Assert.Equal("http://10.0.0.1:5000", second.PeerUrl);
        Assert.True(await first.Held.IsStillHeldAsync(default));

        Assert.NotNull((await b.Leases.TryAcquireAsync(NewDigest(), default)).Held); // per digest

        await first.Held.DisposeAsync();
        var after = await b.Leases.TryAcquireAsync(digest, default);
        Assert.NotNull(after.Held);
        await after.Held.DisposeAsync();
    }

    [Fact]
    public async Task A_lease_whose_holder_stopped_renewing_expires_and_the_holder_finds_out()
    {
        var digest = NewDigest();
        var paused = new FakeTimeProvider(DateTimeOffset.UtcNow); // never advanced: its renewal never runs
        var a = Join(paused, leaseTtl: TimeSpan.FromMilliseconds(500));
        var b = Join(leaseTtl: TimeSpan.FromMilliseconds(500));

        var held = (await a.Leases.TryAcquireAsync(digest, default)).Held;
        Assert.NotNull(held);
        IHeldLease? taken = null;
        await Net.WaitUntilAsync(async () => (taken = (await b.Leases.TryAcquireAsync(digest, default)).Held) is not null, Patience, "the lease to expire");
        Assert.False(await held.IsStillHeldAsync(default));
        await held.DisposeAsync(); // releases nothing that is not its own
        Assert.True(await taken!.IsStillHeldAsync(default));
        await taken.DisposeAsync();
    }

    [Fact]
    public async Task A_renewed_lease_outlives_its_lifetime()
    {
        var digest = NewDigest();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var a = Join(clock, leaseTtl: TimeSpan.FromSeconds(3));
        var b = Join();
        await using var held = (await a.Leases.TryAcquireAsync(digest, default)).Held!;
        // Each renewal (a third of the lifetime on the holder's clock) runs on the thread pool; the
        // store then holds the lease for a whole lifetime again. Renew well past 3 s of real time.
        var until = DateTime.UtcNow.AddSeconds(4);
        while (DateTime.UtcNow < until)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(200);
            Assert.Null((await b.Leases.TryAcquireAsync(digest, default)).Held);
        }
        Assert.True(await held.IsStillHeldAsync(default));
    }

    [Fact]
    public async Task A_maintenance_lock_has_one_holder_and_expires_without_one()
    {
        var (a, b) = (Join(), Join());
        var held = await a.Locks.TryAcquireAsync(_key, TimeSpan.FromMinutes(1), default);
        Assert.NotNull(held);
        Assert.Null(await b.Locks.TryAcquireAsync(_key, TimeSpan.FromMinutes(1), default));
        Assert.NotNull(await b.Locks.TryAcquireAsync(_key + "other", TimeSpan.FromMinutes(1), default));
        await held.DisposeAsync();
        var next = await b.Locks.TryAcquireAsync(_key, TimeSpan.FromMilliseconds(300), default);
        Assert.NotNull(next);

        // Its holder died (never released): the lock is free after its lifetime.
        await Net.WaitUntilAsync(async () => await a.Locks.TryAcquireAsync(_key, TimeSpan.FromMinutes(1), default) is not null, Patience, "the lock to expire");
    }
}

[Collection(IntegrationCollection.Name)]
public sealed class RedisSharedMetadataContract(BackendsFixture fx) : SharedMetadataContract, IDisposable
{
    private readonly string _prefix = $"t{Guid.NewGuid():N}:";
    private readonly List<IDisposable> _owned = [];

    protected override Replica Join(RegistryOptions options, TimeProvider time)
    {
        var store = new RedisMetadataStore(new MetadataOptions { Configuration = fx.Redis.Configuration, KeyPrefix = _prefix });
        var shared = new RedisSharedState(store, time, NullLogger<RedisSharedState>.Instance);
        _owned.Add(shared);
        _owned.Add(store);
        return new Replica(shared, store, new RedisFillLease(store, options, time, NullLogger<RedisFillLease>.Instance), new RedisMaintenanceLock(store));
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
    }
}

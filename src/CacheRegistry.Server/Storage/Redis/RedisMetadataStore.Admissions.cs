using System.Text.Json;
using CacheRegistry.Oci;
using CacheRegistry.Storage;
using StackExchange.Redis;

namespace CacheRegistry.Server.Storage.Redis;

// Signature policies' admissions: one hash per scope (policy and repository), a field per digest.
internal sealed partial class RedisMetadataStore : IAdmissions
{
    private RedisKey AdmissionsKey(string scope) => _prefix + "admissions:" + scope;

    public Task<Admission?> GetAdmissionAsync(string scope, Digest digest, CancellationToken ct) => Guard(async () =>
    {
        var value = await Db.HashGetAsync(AdmissionsKey(scope), digest.ToString());
        if (value.IsNull) return null;
        var json = JsonSerializer.Deserialize<AdmissionJson>((string)value!)!;
        return (Admission?)new Admission(digest, json.How, json.Key, DateTimeOffset.FromUnixTimeMilliseconds(json.At));
    });

    // HSETNX: the first reason a digest was admitted is the one kept.
    public Task AdmitAsync(string scope, IReadOnlyCollection<Admission> admissions, CancellationToken ct) => Guard(async () =>
    {
        var key = AdmissionsKey(scope);
        await Task.WhenAll(admissions.Select(a => Db.HashSetAsync(key, a.Digest.ToString(),
            JsonSerializer.Serialize(new AdmissionJson(a.How, a.Key, a.At.ToUnixTimeMilliseconds())), When.NotExists)));
    });

    private sealed record AdmissionJson(string How, string? Key, long At);
}

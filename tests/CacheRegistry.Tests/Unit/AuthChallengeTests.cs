using CacheRegistry.Upstream;

namespace CacheRegistry.Tests.Unit;

public sealed class AuthChallengeTests
{
    [Fact]
    public void Docker_hub_challenge()
    {
        var c = AuthChallenge.Parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/nginx:pull\"")!;
        Assert.Equal(("Bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/nginx:pull"), (c.Scheme, c.Realm, c.Service, c.Scope));
    }

    [Fact]
    public void Unquoted_values_and_commas_inside_quotes()
    {
        var c = AuthChallenge.Parse("Bearer realm=\"https://gcr.io/v2/token\",service=gcr.io,scope=\"repository:a/b:pull,push\",error=\"invalid_token\"")!;
        Assert.Equal(("gcr.io", "repository:a/b:pull,push", "invalid_token"), (c.Service, c.Scope, c.Error));
    }

    [Fact]
    public void Realm_only_and_basic()
    {
        Assert.Null(AuthChallenge.Parse("Bearer realm=\"https://x/token\"")!.Service);
        Assert.Equal("basic-realm", AuthChallenge.Parse("Basic realm=\"basic-realm\"")!.Realm);
        Assert.Null(AuthChallenge.Parse(""));
    }
}

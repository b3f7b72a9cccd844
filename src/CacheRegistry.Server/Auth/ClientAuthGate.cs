using CacheRegistry.Oci;

namespace CacheRegistry.Server.Auth;

/// <summary>
/// With Registry:Auth:Htpasswd set, every /v2 request and /status/upstreams needs a user: Basic
/// credentials from the file, or anonymous when allowed. A request without credentials gets the
/// registry's standard challenge (<c>WWW-Authenticate: Basic realm=…</c>), which is what makes
/// <c>docker login</c>, skopeo and containerd send them.
/// </summary>
internal sealed class ClientAuthGate(AccessPolicy policy, IServiceProvider services, RegistryOptions options, InternalCaller internalCaller)
{
    private const string UserKey = "cacheregistry.user";

    /// <summary>Who made the request, or null when authentication is off.</summary>
    public static string? UserOf(HttpContext ctx) => ctx.Items.TryGetValue(UserKey, out var user) ? user as string : null;

    public async Task InvokeAsync(HttpContext ctx, RequestDelegate next)
    {
        if (policy.IsOn && (ctx.Request.Path.StartsWithSegments("/v2") || ctx.Request.Path.StartsWithSegments("/status")))
            ctx.Items[UserKey] = await UserAsync(ctx);
        await next(ctx);
    }

    /// <summary>The signed-in user, or anonymous (when allowed and no credentials came), for a request that would have one.</summary>
    public async Task<string?> TryUserAsync(HttpContext ctx) => (await LoginAsync(ctx)).User;

    private async Task<LoginResult> LoginAsync(HttpContext ctx)
    {
        if (!policy.IsOn) return default;
        if (internalCaller.Accepts(ctx)) return new(InternalCaller.User);
        var header = ctx.Request.Headers.Authorization.ToString();
        if (IsNone(header)) return new(options.Auth.Anonymous ? ClientAuthenticator.Anonymous : null);
        // The client's address as the forwarded-headers rules established it (the proxy's own when it is not trusted).
        var address = ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        return await services.GetRequiredService<ClientAuthenticator>().AuthenticateAsync(header, address, ctx.RequestAborted);
    }

    private async Task<string> UserAsync(HttpContext ctx)
    {
        var login = await LoginAsync(ctx);
        if (login.User is { } user) return user;
        if (login.RetryAfter is { } wait)
        {
            var seconds = RegistryError.SecondsToRetry(wait);
            throw new RegistryError(429, "TOOMANYREQUESTS", $"{login.Why}; retry in {seconds} s") { RetryAfterSeconds = seconds };
        }
        throw new RegistryError(401, "UNAUTHORIZED", IsNone(ctx.Request.Headers.Authorization.ToString())
            ? "authentication required: docker login, skopeo --creds or an imagePullSecret with a user of this cache"
            : "wrong user name or password") { Challenge = $"Basic realm=\"{options.Auth.Realm}\"" };
    }

    /// <summary>No credentials: no header, or Basic with an empty user and password (what skopeo sends after a challenge when it has none).</summary>
    private static bool IsNone(string header) => header.Length == 0 || header.Trim().Equals("Basic Og==", StringComparison.OrdinalIgnoreCase);
}

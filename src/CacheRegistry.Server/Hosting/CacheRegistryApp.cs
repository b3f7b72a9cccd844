using CacheRegistry.Cache;
using CacheRegistry.Routing;
using CacheRegistry.Server.Dashboard;
using CacheRegistry.Server.Http;
using CacheRegistry.Server.Storage;
using CacheRegistry.Server.Telemetry.Logging;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;
using CacheRegistry.Server.Telemetry;
using Serilog;

namespace CacheRegistry.Server.Hosting;

/// <summary>Builds the server: configuration, services, and the HTTP pipeline.</summary>
internal static class CacheRegistryApp
{
    public const string DefaultUrl = "http://0.0.0.0:5000";

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // appsettings.json ships beside the binary; relative data paths stay relative to the working directory.
            ContentRootPath = AppContext.BaseDirectory,
        });
        Configuration.AddFile(builder.Configuration, builder.Configuration, args);

        builder.AddServerLogging();

        var settings = SettingsLoader.Load(builder.Configuration);
        var options = settings.Registry;
        TlsCertificate? tls = null; // made with the services, before Kestrel asks for it at start
        Listen(builder, settings.Tls);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            if (!string.IsNullOrEmpty(settings.Tls.Certificate))
                k.ConfigureHttpsDefaults(h =>
                {
                    h.ServerCertificateSelector = (_, _) => tls!.Current;
                    h.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
                    h.OnAuthenticate = (_, ssl) => ssl.CipherSuitesPolicy = TlsCertificate.AeadOnly;
                });
        });
        // Bad bodies and query values become exceptions the middleware answers with OCI error JSON.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.Timeouts.Shutdown + TimeSpan.FromSeconds(5));
        AddCacheRegistry(builder.Services, settings);
        builder.Services.AddStores(settings.Stores(server: true));
        builder.Services.AddHostedService<MaintenanceService>();
        builder.Services.AddHostedService<StartupSummary>();
        builder.Services.AddHostedService<FillDrain>();
        builder.Services.AddHostedService<PurgeSubscription>();
        builder.Services.AddHostedService<SyncService>();
        builder.Services.AddHostedService<AvailabilityService>();
        builder.Services.AddHostedService<Dashboard.DashboardSampler>();
        builder.Services.AddSingleton<SelfAddress>();
        builder.Services.AddSingleton<Telemetry.Logging.RequestLog>();
        builder.Services.AddSingleton<Operations.WarmJobs>();
        builder.Services.AddServerTelemetry(options.Telemetry);

        builder.Services.AddRequestLimits(settings.Limits);
        builder.Services.AddSingleton<TlsCertificate>();

        var app = builder.Build();
        tls = app.Services.GetRequiredService<TlsCertificate>();
        if (settings.Tls.HttpPort is int httpPort) app.Use(HttpsRedirect(httpPort));
        // Listening before the first request, so no measurement is missed.
        app.Services.GetRequiredService<Telemetry.StateGauges>();
        app.UseSerilogRequestLogging(app.Services.GetRequiredService<Telemetry.Logging.RequestLog>().Configure);
        app.UseMiddleware<RegistryMiddleware>();
        // Replicas' requests for each other's fills carry their own signature: no client login or limit applies.
        var replicas = app.Services.GetRequiredService<ReplicaEndpoint>();
        app.Use((ctx, next) => ctx.Request.Path.StartsWithSegments("/internal") ? replicas.HandleAsync(ctx) : next(ctx));
        app.UseRequestLimits(settings.Limits);
        var auth = app.Services.GetRequiredService<Auth.ClientAuthGate>();
        if (options.Auth.Htpasswd is { Length: > 0 }) app.Services.GetRequiredService<Auth.ClientAuthenticator>(); // read the file now, and say so
        app.Use(auth.InvokeAsync);
        app.UseWhen(ctx => ctx.Request.Path.StartsWithSegments("/admin"), admin => admin.Use((ctx, next) => AdminApi.GateAsync(ctx, next, settings.Admin)));
        // /v2 is answered before endpoint routing: the handler parses its paths itself (from the end).
        var handler = app.Services.GetRequiredService<RegistryHandler>();
        app.Use((ctx, next) => ctx.Request.Path.StartsWithSegments("/v2") ? handler.HandleAsync(ctx) : next(ctx));
        app.UseRouting();
        app.MapServiceEndpoints();
        app.MapAdmin();
        app.MapDashboard();
        return app;
    }

    /// <summary>
    /// The listen addresses: --urls, else port 5000 (HTTPS when Registry:Tls is set), plus the
    /// plain-HTTP redirect port when asked for.
    /// </summary>
    private static void Listen(WebApplicationBuilder builder, TlsOptions options)
    {
        var tls = !string.IsNullOrEmpty(options.Certificate);
        var urls = builder.Configuration["urls"] is { Length: > 0 } given ? given.Split(';', StringSplitOptions.RemoveEmptyEntries)
            : !string.IsNullOrEmpty(builder.Configuration["http_ports"]) ? [] : [tls ? DefaultUrl.Replace("http:", "https:", StringComparison.Ordinal) : DefaultUrl];
        if (options.HttpPort is int port) urls = [.. urls, $"http://0.0.0.0:{port}"];
        if (urls.Length > 0) builder.WebHost.UseUrls(urls);
    }

    /// <summary>
    /// Plain HTTP on the redirect port goes to HTTPS; probes, scrapes and replicas' fill streams
    /// (signed with the cluster secret, and in-cluster where certificates name no pod address) are
    /// answered where they arrive.
    /// </summary>
    private static Func<HttpContext, RequestDelegate, Task> HttpsRedirect(int httpPort)
    {
        int? bound = null;
        return (ctx, next) =>
        {
            var path = ctx.Request.Path;
            if (ctx.Request.IsHttps || ctx.Connection.LocalPort != httpPort
                || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics")
                || path.StartsWithSegments(Http.ReplicaEndpoint.Prefix.TrimEnd('/')))
                return next(ctx);
            // The port the HTTPS listener is bound to (a configured :0 is only known once listening).
            var httpsPort = bound ??= ctx.RequestServices.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
                .Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses
                .Select(a => Uri.TryCreate(a, UriKind.Absolute, out var uri) ? uri : null).FirstOrDefault(u => u?.Scheme == "https")?.Port ?? 443;
            ctx.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
            ctx.Response.Headers.Location = $"https://{ctx.Request.Host.Host}{(httpsPort == 443 ? "" : ":" + httpsPort)}{ctx.Request.PathBase}{path}{ctx.Request.QueryString}";
            return Task.CompletedTask;
        };
    }

    /// <summary>The cache's services, shared by the server and the commands that work on its stores.</summary>
    public static void AddCacheRegistry(IServiceCollection services, Settings settings)
    {
        var options = settings.Registry;
        settings.Register(services);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<BackgroundWork>();
        services.AddSingleton(sp => StoreHealth.From(options.Timeouts, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<BackgroundWork>().Stopping));
        services.AddSingleton(sp => new CacheRegistry.Telemetry.CacheMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<Telemetry.StateGauges>();
        services.AddSingleton<Telemetry.Logging.HitLogSampling>();
        services.AddSingleton<UpstreamSet>();
        services.AddSingleton<UpstreamRouter>();
        services.AddSingleton<HotCache>();
        if (options.Cluster.StreamsFromPeers) services.AddSingleton<CacheRegistry.Cluster.IPeerFills, CacheRegistry.Cluster.PeerFillClient>();
        services.AddSingleton<RunningFills>();
        services.AddSingleton<BlobCache>();
        services.AddSingleton<NegativeCache>();
        services.AddSingleton<ManifestCache>();
        services.AddSingleton<TagLister>();
        services.AddSingleton<ReferrersCache>();
        services.AddSingleton<CacheRegistry.Signing.SignaturePolicies>();
        services.AddSingleton<CacheRegistry.Signing.CosignVerifier>();
        services.AddSingleton<CacheRegistry.Signing.SignatureGate>();
        services.AddSingleton<RegistryHandler>();
        services.AddHttpForwarder();
        services.AddSingleton<PushForwarder>();
        services.AddSingleton<ReplicaEndpoint>();
        services.AddSingleton<Auth.AccessPolicy>();
        services.AddSingleton<PassthroughAccess>();
        services.AddSingleton<Auth.ClientAuthGate>();
        services.AddSingleton<Auth.InternalCaller>();
        services.AddSingleton<Auth.ClientAuthenticator>();
        services.AddSingleton<AccessTracker>();
        services.AddSingleton<PullTracker>();
        services.AddSingleton<Maintenance.AvailabilityChecker>();
        services.AddSingleton<Maintenance.Evictor>();
        services.AddSingleton<Maintenance.GarbageCollector>();
        services.AddSingleton<Operations.BundleImporter>();
        services.AddSingleton<Operations.Purger>();
        services.AddSingleton<Operations.CacheStats>();
        services.AddSingleton<Server.Http.DashboardActivity>();
    }
}

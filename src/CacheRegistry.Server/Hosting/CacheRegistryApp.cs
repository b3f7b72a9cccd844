using CacheRegistry.Cache;
using CacheRegistry.Routing;
using CacheRegistry.Server.Dashboard;
using CacheRegistry.Server.Http;
using CacheRegistry.Server.Storage;
using CacheRegistry.Server.Telemetry.Logging;
using CacheRegistry.Server.Operations;
using CacheRegistry.Storage;
using CacheRegistry.Upstream;

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
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
            builder.WebHost.UseUrls(DefaultUrl);
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);

        builder.Logging.AddServerLogging(builder.Configuration);

        var options = RegistryOptionsLoader.Load(builder.Configuration);
        // Bad bodies and query values become exceptions the middleware answers with OCI error JSON.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.Timeouts.Shutdown + TimeSpan.FromSeconds(5));
        AddCacheRegistry(builder.Services, options);
        builder.Services.AddStores(builder.Configuration, options);
        builder.Services.AddHostedService<MaintenanceService>();
        builder.Services.AddHostedService<StartupSummary>();
        builder.Services.AddHostedService<FillDrain>();
        builder.Services.AddHostedService<PurgeSubscription>();
        builder.Services.AddHostedService<SyncService>();
        builder.Services.AddHostedService<AvailabilityService>();
        builder.Services.AddHostedService<Dashboard.DashboardSampler>();
        builder.Services.AddSingleton<SelfAddress>();
        builder.Services.AddSingleton<Operations.WarmJobs>();
        // Disposed at shutdown by the container, which sends the spans still batched.
        builder.Services.AddSingleton(_ => new Telemetry.TraceExportHandle(Telemetry.TraceExport.Start(options.Telemetry)));

        var app = builder.Build();
        // Listening before the first request, so no measurement is missed.
        app.Services.GetRequiredService<Telemetry.PrometheusExporter>();
        app.Services.GetRequiredService<Telemetry.StateGauges>();
        app.Services.GetRequiredService<Telemetry.TraceExportHandle>();
        app.UseMiddleware<RegistryMiddleware>();
        app.UseWhen(ctx => ctx.Request.Path.StartsWithSegments("/admin"), admin => admin.Use((ctx, next) => AdminApi.GateAsync(ctx, next, options)));
        // /v2 is answered before endpoint routing: the handler parses its paths itself (from the end).
        var handler = app.Services.GetRequiredService<RegistryHandler>();
        app.Use((ctx, next) => ctx.Request.Path.StartsWithSegments("/v2") ? handler.HandleAsync(ctx) : next(ctx));
        app.UseRouting();
        app.MapServiceEndpoints();
        app.MapAdmin();
        app.MapDashboard(options);
        return app;
    }

    /// <summary>The cache's services, shared by the server and the commands that work on its stores.</summary>
    public static void AddCacheRegistry(IServiceCollection services, RegistryOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<BackgroundWork>();
        services.AddSingleton(sp => StoreHealth.From(options.Timeouts, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(sp => new CacheRegistry.Telemetry.CacheMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<Telemetry.PrometheusExporter>();
        services.AddSingleton<Telemetry.StateGauges>();
        services.AddSingleton<Telemetry.Logging.HitLogSampling>();
        services.AddSingleton<UpstreamSet>();
        services.AddSingleton<UpstreamRouter>();
        services.AddSingleton<HotCache>();
        services.AddSingleton<RunningFills>();
        services.AddSingleton<BlobCache>();
        services.AddSingleton<NegativeCache>();
        services.AddSingleton<ManifestCache>();
        services.AddSingleton<TagLister>();
        services.AddSingleton<ReferrersCache>();
        services.AddSingleton<RegistryHandler>();
        services.AddSingleton<AccessTracker>();
        services.AddSingleton<PullTracker>();
        services.AddSingleton<Maintenance.AvailabilityChecker>();
        services.AddSingleton<Maintenance.Evictor>();
        services.AddSingleton<Maintenance.GarbageCollector>();
        services.AddSingleton<Operations.BundleImporter>();
        services.AddSingleton<Operations.Purger>();
        services.AddSingleton<Operations.CacheStats>();
        services.AddSingleton<Server.Dashboard.DashboardActivity>();
    }
}

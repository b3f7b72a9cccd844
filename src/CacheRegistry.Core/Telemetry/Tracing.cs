using System.Diagnostics;

namespace CacheRegistry.Telemetry;

/// <summary>
/// The cache's spans: upstream calls, token fetches, fills and store reads and writes, children of
/// the request span ASP.NET Core starts. Nothing is recorded unless a tracer listens (OTLP export
/// configured), so the calls cost a null check otherwise. Span attributes may name repositories and
/// digests: traces are looked up one by one, unlike metric labels.
/// </summary>
public static class Tracing
{
    public const string SourceName = "CacheRegistry";

    public static ActivitySource Source { get; } = new(SourceName);

    /// <summary>Marks the span failed with a short reason; the exception type goes along as an attribute.</summary>
    public static void Fail(this Activity? activity, Exception e)
    {
        if (activity is null) return;
        activity.SetStatus(ActivityStatusCode.Error, e.Message);
        activity.SetTag("error.type", e.GetType().Name);
    }
}

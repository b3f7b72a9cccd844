namespace CacheRegistry.Upstream;

/// <summary>
/// A request sent on a pooled connection (one it did not open itself) got no answer within the
/// first-byte timeout: the connection may have gone silent while idle rather than the endpoint.
/// </summary>
internal sealed class PooledConnectionSilentException(OperationCanceledException inner)
    : OperationCanceledException("a pooled upstream connection gave no answer in time", inner);

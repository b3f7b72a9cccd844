namespace CacheRegistry.Tests.Infrastructure;

/// <summary>A real S3 server (s3rver from npm) on a free loopback port with one bucket, stoppable.</summary>
public sealed class S3Server : IAsyncDisposable
{
    private readonly string _dir = Net.TempDir("s3");
    private readonly ServerProcess _process;

    public S3Server(string bucket = "cache")
    {
        Bucket = bucket;
        Port = Net.FreePort();
        _process = new ServerProcess(ProcessRunner.Require("s3rver"),
            ["-d", _dir, "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--configure-bucket", bucket],
            // s3rver's object listing uses a hash that Node 20's OpenSSL 3 only has in its legacy provider.
            new Dictionary<string, string?> { ["NODE_OPTIONS"] = "--openssl-legacy-provider" });
    }

    public int Port { get; }
    public string Bucket { get; }
    public string Url => $"http://127.0.0.1:{Port}";

    public async Task StartAsync()
    {
        _process.Start();
        using var http = Net.NewHttpClient();
        http.Timeout = TimeSpan.FromSeconds(5); // one hung answer must not outlast the wait
        try
        {
            await Net.WaitUntilAsync(async () => (await http.GetAsync(Url + "/" + Bucket)).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "s3rver");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} (running: {_process.IsRunning}); its output:\n{Log}", e);
        }
    }

    public Task StopAsync() => _process.KillAsync();

    /// <summary>What s3rver logged, for failure messages.</summary>
    public string Log => _process.OutputText;

    internal Server.Storage.S3.S3Options Options(string prefix = "") => new()
    {
        ServiceUrl = Url, Bucket = Bucket, Prefix = prefix, AccessKey = "S3RVER", SecretKey = "S3RVER", ForcePathStyle = true,
        PartSizeBytes = 5 * 1024 * 1024, RequestTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Arguments that point a CacheRegistry at this server.</summary>
    public string[] Args(string prefix = "") =>
    [
        "--Registry:Storage:Kind=S3", "--Registry:Storage:S3:ServiceUrl=" + Url, "--Registry:Storage:S3:Bucket=" + Bucket,
        "--Registry:Storage:S3:Prefix=" + prefix, "--Registry:Storage:S3:AccessKey=S3RVER", "--Registry:Storage:S3:SecretKey=S3RVER",
    ];

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One redis-server and one s3rver for a test collection.</summary>
public sealed class BackendsFixture : IAsyncLifetime
{
    public RedisServer Redis { get; } = new();
    public S3Server S3 { get; } = new();

    public Task InitializeAsync() => Task.WhenAll(Redis.StartAsync(), S3.StartAsync());

    public async Task DisposeAsync()
    {
        await Redis.DisposeAsync();
        await S3.DisposeAsync();
    }
}

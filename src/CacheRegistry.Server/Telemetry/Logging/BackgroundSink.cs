using System.Text;
using System.Threading.Channels;
using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;

namespace CacheRegistry.Server.Telemetry.Logging;

/// <summary>
/// Queues events and writes them from one background thread, flushing when the queue runs dry.
/// The queue is bounded: when the console cannot keep up, lines are dropped (and the count of
/// dropped lines written once it catches up) rather than requests slowed or memory grown.
/// </summary>
internal sealed class BackgroundSink : ILogEventSink, IDisposable
{
    private const int Capacity = 10_000;
    private readonly Channel<LogEvent> _queue = Channel.CreateBounded<LogEvent>(new BoundedChannelOptions(Capacity)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
    private readonly StreamWriter _output;
    private readonly ILineFormatter _formatter;
    private readonly Thread _writer;
    private long _dropped;

    public BackgroundSink(Stream output, ILineFormatter formatter)
    {
        _output = new StreamWriter(output, new UTF8Encoding(false), 64 * 1024) { AutoFlush = false, NewLine = "\n" };
        _formatter = formatter;
        _writer = new Thread(Write) { IsBackground = true, Name = "log writer" };
        _writer.Start();
    }

    public void Emit(LogEvent logEvent)
    {
        if (!_queue.Writer.TryWrite(logEvent)) Interlocked.Increment(ref _dropped);
    }

    private void Write()
    {
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var e))
            {
                _formatter.Format(e, _output);
                _output.WriteLine();
            }
            if (Interlocked.Exchange(ref _dropped, 0) is var dropped and > 0)
            {
                _formatter.Format(Dropped(dropped), _output);
                _output.WriteLine();
            }
            _output.Flush();
        }
    }

    private static readonly MessageTemplate DroppedTemplate = new MessageTemplateParser().Parse("{Dropped} log lines dropped: the console could not keep up");

    private static LogEvent Dropped(long count) => new(DateTimeOffset.UtcNow, LogEventLevel.Warning, null, DroppedTemplate,
        [new LogEventProperty("Dropped", new ScalarValue(count)), new LogEventProperty(LogEventParts.Category, new ScalarValue("CacheRegistry.Log"))]);

    /// <summary>Writes what is queued, then stops.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _writer.Join(TimeSpan.FromSeconds(5));
        _output.Dispose();
    }
}

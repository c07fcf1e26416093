using Microsoft.Extensions.Logging;

namespace PyodideEmbedded.Cli;

/// <summary>
/// The one library event that <c>run</c> and <c>serve</c> print (on stderr): the start-up cache folder cannot be used
/// (untrusted or not writable), so every start boots Pyodide for seconds. Without it the only sign is slowness.
/// Other events stay quiet: a run's own limits and errors are already in its result.
/// </summary>
internal sealed class StartupCacheWarning(TextWriter stderr) : ILoggerProvider, ILogger
{
    // SandboxLog's StartupCacheUnusable: the README lists the ids as stable.
    private const int StartupCacheUnusable = 15;

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == StartupCacheUnusable)
        {
            stderr.WriteLine($"{UsageErrors.ProgramName}: warning: {formatter(state, exception)}");
        }
    }

    public void Dispose()
    {
    }
}

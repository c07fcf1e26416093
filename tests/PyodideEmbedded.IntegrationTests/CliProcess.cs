using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace PyodideEmbedded.IntegrationTests;

/// <summary>The built <c>pyodide-sandbox</c> executable, driven the way a client program would. Its stdout is
/// decoded strictly: a reply that is not UTF-8 fails the test. stderr is read as it comes, so it never blocks the CLI.</summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private bool _disposed;

    private CliProcess(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
    }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "pyodide-sandbox.dll");

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static CliProcess Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false, throwOnInvalidBytes: true),
            StandardInputEncoding = new UTF8Encoding(false),
        };
        info.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return new CliProcess(Process.Start(info)!);
    }

    /// <summary>Runs the CLI to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToEndAsync(params string[] args)
    {
        await using var cli = Start(args);
        cli._process.StandardInput.Close();
        var stdout = await cli._process.StandardOutput.ReadToEndAsync();
        await cli._process.WaitForExitAsync();
        return (cli._process.ExitCode, stdout, cli.Stderr);
    }

    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteAsync(line + "\n");
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Writes one line of raw bytes (the protocol fuzz sends bytes that are not UTF-8).</summary>
    public async Task SendLineAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        var stdin = _process.StandardInput.BaseStream;
        await stdin.WriteAsync(bytes, cancellationToken);
        stdin.WriteByte((byte)'\n');
        await stdin.FlushAsync(cancellationToken);
    }

    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken = default) => await _process.StandardOutput.ReadLineAsync(cancellationToken);

    /// <summary>Sends one request line and reads exactly one reply line, which must be a JSON object.</summary>
    public async Task<JsonElement> RequestAsync(string line)
    {
        await SendLineAsync(line);
        var reply = await ReadLineAsync() ?? throw new InvalidOperationException("The CLI closed its output. stderr: " + Stderr);
        using var document = JsonDocument.Parse(reply);
        Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        return document.RootElement.Clone();
    }

    public Task<JsonElement> RunCodeAsync(string code) => RequestAsync(JsonSerializer.Serialize(new { code }));

    public void CloseInput() => _process.StandardInput.Close();

    public bool HasExited => _process.HasExited;

    public int ProcessId => _process.Id;

    public Task<string> ReadRestAsync(CancellationToken cancellationToken = default) => _process.StandardOutput.ReadToEndAsync(cancellationToken);

    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        await _process.WaitForExitAsync(cancellationToken);
        return _process.ExitCode;
    }

    public long WorkingSetBytes
    {
        get
        {
            _process.Refresh();
            return _process.WorkingSet64;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

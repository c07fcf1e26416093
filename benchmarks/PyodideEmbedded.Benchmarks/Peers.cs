using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace PyodideEmbedded.Benchmarks;

/// <summary>The alternatives a user would otherwise pick: the same Pyodide in a Deno or Node subprocess
/// (benchmarks/peers), and native CPython, all driven through the same JSON-lines protocol.</summary>
public enum Peer
{
    Deno,
    Node,
    NativePython,
}

/// <summary>One running peer process; requests and replies are one JSON line each.</summary>
public sealed class PeerProcess : IDisposable
{
    private readonly Process _process;

    private PeerProcess(Process process) => _process = process;

    internal static string PeersFolder { get; } = FindPeersFolder();

    /// <summary>Starts the peer, or throws with a message saying how to install it.</summary>
    public static PeerProcess Start(Peer peer)
    {
        var (file, args) = peer switch
        {
            Peer.Deno => (Path.Combine(PeersFolder, "node_modules", "deno", "deno"),
                new[] { "run", "--cached-only", "--no-prompt", "--allow-read=node_modules/pyodide", "runner.deno.js" }),
            Peer.Node => ("node", new[] { "runner.node.mjs" }),
            _ => ("python3", new[] { "runner.native.py" }),
        };
        if (peer == Peer.Deno && !File.Exists(file) || peer != Peer.NativePython && !Directory.Exists(Path.Combine(PeersFolder, "node_modules", "pyodide")))
        {
            throw new InvalidOperationException($"Peer {peer} is not installed: run `bash benchmarks/peers/install.sh`.");
        }

        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = PeersFolder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {file}.");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return new PeerProcess(process);
    }

    public int ProcessId => _process.Id;

    /// <summary>Sends code and returns the raw reply line.</summary>
    public string Run(string code)
    {
        _process.StandardInput.WriteLine(JsonSerializer.Serialize(new { code }));
        _process.StandardInput.Flush();
        var reply = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("The peer exited.");
        if (reply.StartsWith("{\"error\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The peer answered with an error: " + reply);
        }

        return reply;
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.WriteLine("{\"shutdown\": true}");
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (IOException)
        {
            // already gone
        }

        _process.Dispose();
    }

    private static string FindPeersFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "benchmarks", "peers");
            if (File.Exists(Path.Combine(candidate, "runner.node.mjs")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("benchmarks/peers not found above " + AppContext.BaseDirectory);
    }
}

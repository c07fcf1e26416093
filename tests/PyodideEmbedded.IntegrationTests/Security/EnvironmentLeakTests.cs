using System.Text;
using static PyodideEmbedded.IntegrationTests.Security.EscapeAssert;

namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>Group 5: the host's environment, working directory and identity never enter the sandbox.</summary>
public sealed class EnvironmentLeakTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task HostSecretEnvironmentVariable_NeverReachesPythonOrJs()
    {
        PlantHostSecret();
        await using var sandbox = await CreateAsync(allowJsInterop: true);
        // The secret is searched for without ever being sent in, nor decoded inside Python's memory: only its
        // bytes XOR 0x5A travel in the code, and they are unmasked in a JS array (outside the wasm heap).
        var masked = Convert.ToHexString(Encoding.UTF8.GetBytes(SecretValue).Select(b => (byte)(b ^ 0x5A)).ToArray()).ToLowerInvariant();
        var code = $$"""
            import os, js, pyodide_js
            masked = '{{masked}}'
            mask = lambda text: bytes(b ^ 0x5A for b in text.encode('utf-8', 'surrogatepass')).hex()
            check = js.eval('''(heap, maskedHex, envJson) => {
                const needle = new Uint8Array(maskedHex.length / 2);
                for (let i = 0; i < needle.length; i++) needle[i] = parseInt(maskedHex.substr(2 * i, 2), 16) ^ 0x5A;
                const n = needle.length;
                let inHeap = false;
                outer: for (let i = 0; i <= heap.length - n; i++) {
                  for (let j = 0; j < n; j++) if (heap[i + j] !== needle[j]) continue outer;
                  inHeap = true; break;
                }
                const inEnv = envJson.includes(new TextDecoder().decode(needle)) || envJson.includes('PYODIDE_EMBEDDED');
                return JSON.stringify({ inHeap, inEnv });
            }''')
            r = js.JSON.parse(check(pyodide_js._module.HEAPU8, masked, js.JSON.stringify(pyodide_js._module.ENV or js.Object.new())))
            {'in_environ': any(masked in mask(k + '=' + v) for k, v in os.environ.items()),
             'in_js_env': bool(r.inEnv), 'in_wasm_memory': bool(r.inHeap), 'env_keys': sorted(os.environ)}
            """;
        var value = await RunValueAsync(sandbox, code);

        Assert.False(value.GetProperty("in_environ").GetBoolean(), "The host's secret is in os.environ");
        Assert.False(value.GetProperty("in_js_env").GetBoolean(), "The host's secret is in Emscripten's ENV");
        Assert.False(value.GetProperty("in_wasm_memory").GetBoolean(), "The host's secret is in the sandbox's memory");
        var hostOnlyKeys = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Except(["PATH", "HOME", "LANG", "USER", "LOGNAME", "PWD", "_"]).ToHashSet();
        var leakedKeys = value.GetProperty("env_keys").EnumerateArray().Select(k => k.GetString()!).Where(hostOnlyKeys.Contains).ToList();
        Assert.True(leakedKeys.Count == 0, $"Host environment variable names in os.environ: {string.Join(", ", leakedKeys)}");
        await AssertStillAnswersAsync(sandbox);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task CwdUnameAndHostname_ShowOnlyTheEmscriptenMachine()
    {
        await using var sandbox = await CreateAsync(allowJsInterop: false);
        const string code = """
            import os, socket, platform
            u = os.uname()
            {'cwd': os.getcwd(), 'sysname': u.sysname, 'nodename': u.nodename, 'host': socket.gethostname(), 'node': platform.node(),
             'home': os.path.expanduser('~'), 'pid': os.getpid(), 'uid': os.getuid(), 'login': os.getlogin() if hasattr(os, 'getlogin') else ''}
            """;
        var value = await RunValueAsync(sandbox, code);
        var text = value.GetRawText();

        Assert.Equal("Emscripten", value.GetProperty("sysname").GetString());
        Assert.NotEqual(Environment.CurrentDirectory, value.GetProperty("cwd").GetString());
        Assert.NotEqual(Environment.ProcessId, value.GetProperty("pid").GetInt32());
        Assert.DoesNotContain(Environment.MachineName, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Environment.UserName == "web_user" ? "\u0000" : "\"" + Environment.UserName + "\"", text, StringComparison.Ordinal);
        AssertNoHostData(text, code);
        await AssertStillAnswersAsync(sandbox);
    }
}

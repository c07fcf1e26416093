using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace PyodideEmbedded.IntegrationTests.Extensions;

/// <summary>
/// <see cref="PythonTool"/> through the real Microsoft.Extensions.AI pipeline: <see cref="FunctionInvokingChatClient"/>
/// over a scripted chat client that asks for the tool (no network), asserting what the model receives.
/// </summary>
public sealed class PythonToolTests(ToolPool fixture) : IClassFixture<ToolPool>
{
    private readonly SandboxPool _pool = fixture.Pool;

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task SessionTool_ThroughFunctionInvocation_ModelReceivesOutputValueErrorsAndLimits()
    {
        var model = new ScriptedModel(
            ("c1", "print('hi')\ntotal = base * 2\ntotal", new Dictionary<string, object?> { ["base"] = 21 }),
            ("c2", "total + 1", null),
            ("c3", "import os\nos.listdir('/nope')", null),
            ("c4", "while True: pass", null),
            ("c5", "print('x' * 100_000)", null));
        using var chat = new ChatClientBuilder(model).UseFunctionInvocation().Build();
        var tool = PythonTool.CreateForSession(_pool, "conversation-1");

        var response = await chat.GetResponseAsync("compute", new ChatOptions { Tools = [tool] });

        Assert.Equal("done", response.Text);
        var results = model.Results;
        Assert.Equal(["c1", "c2", "c3", "c4", "c5"], results.Select(r => r.CallId));
        var first = Json(results[0]);
        Assert.Equal("success", first.GetProperty("status").GetString());
        Assert.Equal("hi\n", first.GetProperty("stdout").GetString());
        Assert.Equal(42, first.GetProperty("return_value").GetInt32());
        Assert.Equal(43, Json(results[1]).GetProperty("return_value").GetInt32()); // the session kept `total`
        var error = Json(results[2]);
        Assert.Equal("run-error", error.GetProperty("status").GetString());
        Assert.Contains("FileNotFoundError", error.GetProperty("error").GetString(), StringComparison.Ordinal);
        var limit = Json(results[3]);
        Assert.Equal("limit-exceeded", limit.GetProperty("status").GetString());
        Assert.Equal("time", limit.GetProperty("limit").GetString());
        // Output past the cap is cut: the model gets a bounded result that says so.
        var flood = results[4].Result!.ToString()!;
        Assert.InRange(flood.Length, 1000, PythonTool.DefaultMaxResultChars);
        Assert.Contains("cut to fit", flood, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task FreshTool_KeepsNothingBetweenCalls_AndDescribesTheEnvironment()
    {
        var tool = PythonTool.Create(_pool);

        var set = await tool.InvokeAsync(new AIFunctionArguments { ["python_code"] = "kept = 1" });
        var read = await tool.InvokeAsync(new AIFunctionArguments { ["python_code"] = "'kept' in globals()" });
        var refused = await tool.InvokeAsync(new AIFunctionArguments
        {
            ["python_code"] = "1",
            ["global_variables"] = JsonSerializer.SerializeToElement(new Dictionary<string, int> { ["__builtins__"] = 1 }),
        });

        Assert.Equal("run_python_code", tool.Name);
        Assert.Contains("Python 3.14", tool.Description, StringComparison.Ordinal);
        Assert.Contains("numpy", tool.Description, StringComparison.Ordinal);
        Assert.Contains("network", tool.Description, StringComparison.Ordinal);
        Assert.Contains("2 s per call", tool.Description, StringComparison.Ordinal);
        Assert.Contains("fresh interpreter", tool.Description, StringComparison.Ordinal);
        Assert.Equal("success", ((JsonElement)set!).GetProperty("status").GetString());
        Assert.False(((JsonElement)read!).GetProperty("return_value").GetBoolean());
        Assert.Equal("refused", ((JsonElement)refused!).GetProperty("status").GetString());
        Assert.Equal(["python_code"], tool.JsonSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
    }

    private static JsonElement Json(FunctionResultContent result) => result.Result switch
    {
        JsonElement element => element,
        var other => JsonSerializer.SerializeToElement(other),
    };

    /// <summary>A model that asks for <c>run_python_code</c> once per scripted call, then answers "done"; it records the
    /// function results the pipeline hands it.</summary>
    private sealed class ScriptedModel(params (string CallId, string Code, Dictionary<string, object?>? Globals)[] calls) : IChatClient
    {
        private int _turn;

        public List<FunctionResultContent> Results { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var history = messages.ToList();
            if (_turn > 0)
            {
                Results.Add(history.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Last());
            }

            if (_turn == calls.Length)
            {
                return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "done")));
            }

            var (callId, code, globals) = calls[_turn++];
            var arguments = new Dictionary<string, object?> { ["python_code"] = code };
            if (globals is not null)
            {
                arguments["global_variables"] = globals;
            }

            Assert.Contains(options!.Tools!, t => t.Name == PythonTool.Name);
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent(callId, PythonTool.Name, arguments)])));
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates())
            {
                yield return update;
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

/// <summary>One pool for the tool tests: a 2 s time limit, sandboxes started on demand.</summary>
public sealed class ToolPool : IAsyncLifetime
{
    public SandboxPool Pool { get; } = new(new SandboxPoolOptions { Sandbox = TestOptions.Default with { Timeout = TimeSpan.FromSeconds(2) }, MinReady = 0, MaxSandboxes = 2 });

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Pool.DisposeAsync();
}

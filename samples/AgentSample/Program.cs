using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using PyodideEmbedded;

// An agent loop with the run_python_code tool. The "model" is scripted so that this runs without a network or a key:
// put any IChatClient in its place (OpenAI, Azure OpenAI, Ollama, ...); the tool and the pipeline stay the same.
await using var pool = new SandboxPool(new SandboxPoolOptions { MinReady = 1, Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(5) } });
using var chat = new ChatClientBuilder(new ScriptedModel()).UseFunctionInvocation().Build();

var options = new ChatOptions { Tools = [PythonTool.CreateForSession(pool, sessionId: "conversation-42")] };
var response = await chat.GetResponseAsync("What is the sum of the squares of 1 to 10?", options);
Console.WriteLine(response.Text);   // The tool answered: {"status":"success","stdout":"squares summed\n","return_value":385}

/// <summary>A stand-in for a real model: asks for the tool once, then answers with what the tool returned.</summary>
internal sealed class ScriptedModel : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().LastOrDefault();
        var reply = result is null
            ? new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("call-1", PythonTool.Name, new Dictionary<string, object?>
            {
                ["python_code"] = "total = sum(i * i for i in range(1, 11))\nprint('squares summed')\ntotal",
            })])
            : new ChatMessage(ChatRole.Assistant, $"The tool answered: {JsonSerializer.Serialize(result.Result)}");
        return Task.FromResult(new ChatResponse(reply));
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

using PyodideEmbedded;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddPythonSandboxPool(builder.Configuration.GetSection("PythonSandbox"));   // validated at start-up, warmed up
builder.Services.AddHealthChecks().AddPythonSandboxPool();

var app = builder.Build();
app.MapHealthChecks("/health");

// POST /run {"code": "4 + 5"} -> {"value": 9, ...}: each request in a fresh interpreter (the pool resets its sandbox afterwards).
app.MapPost("/run", async (RunRequest request, SandboxPool pool, CancellationToken cancellationToken) =>
{
    var result = await pool.RunAsync(request.Code, cancellationToken);
    return Results.Ok(new { value = result.Value, stdout = result.Stdout, error = result.Error?.Summary, limit = result.Limit.ToString() });
});

app.Run();

internal sealed record RunRequest(string Code);

using PyodideEmbedded;

await using var sandbox = await PythonSandbox.CreateAsync(new SandboxOptions
{
    Timeout = TimeSpan.FromSeconds(2),
    MemoryLimitBytes = 128L * 1024 * 1024,
});

var result = await sandbox.RunAsync("x = 4\nprint('hello')\nx + 5");
Console.WriteLine(result.Value);   // 9            (JSON of the last expression)
Console.Write(result.Stdout);      // hello

result = await sandbox.RunAsync("x * 2");                 // state persists: 8
Console.WriteLine(result.Value);
result = await sandbox.RunAsync("1/0");
Console.WriteLine(result.Error!.Summary);                 // ZeroDivisionError: division by zero

result = await sandbox.RunAsync("while True: pass");
Console.WriteLine(result.TimedOut);                       // True, after 2 s; the sandbox still works

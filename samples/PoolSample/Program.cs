using PyodideEmbedded;

// One pool per process: it keeps two started sandboxes waiting and never holds more than eight.
await using var pool = new SandboxPool(new SandboxPoolOptions
{
    Sandbox = new SandboxOptions { Timeout = TimeSpan.FromSeconds(2) },
    MinReady = 2,
    MaxSandboxes = 8,
    SessionIdleTimeout = TimeSpan.FromMinutes(5),
});
await pool.WarmUpAsync();                                      // optional: start filling now, wait until two are ready

// Multi-tenant: every run gets a fresh interpreter (the sandbox is reset after it).
var result = await pool.RunAsync("secret = 42\nsecret");
Console.WriteLine(result.Value);                               // 42
result = await pool.RunAsync("'secret' in globals()");
Console.WriteLine(result.Value);                               // False: nothing survives a run

// Sessions: state kept per id until EndSessionAsync or SessionIdleTimeout.
await pool.RunInSessionAsync("alice", "total = 0");
result = await pool.RunInSessionAsync("alice", "total += 5\ntotal");
Console.WriteLine(result.Value);                               // 5
await pool.EndSessionAsync("alice");                           // stops a run in progress, frees the sandbox

// A run that has to be killed costs its sandbox only; the next caller gets a ready one.
result = await pool.RunAsync("sum(range(10**12))");
Console.WriteLine(result.TimedOut);                            // True

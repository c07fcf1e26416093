using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using PyodideEmbedded.Benchmarks;

// Usage:
//   dotnet run -c Release --project benchmarks/PyodideEmbedded.Benchmarks -- --filter '*'           full run
//   dotnet run -c Release --project benchmarks/PyodideEmbedded.Benchmarks -- --quick --filter '*'   short run
//   ... -- --memory        RSS and PSS per sandbox and per peer process (not a BenchmarkDotNet run)
//   ... -- --probe-cold    the first sandbox in a fresh process (not a steady state, so not BenchmarkDotNet)
//   ... -- --probe-one-shot [runs] [--single-file PATH]
//                          a fresh process answers 4 + 5: the CLI (cache kept, first run, no cache), Deno, Node, python3
//                          (OneShotProbe), then --probe-cold in fresh processes
//   ... -- --probe-fresh-runs [seconds]
//                          sustained pool.RunAsync("4 + 5") with a new sandbox per run, 1 and 2 callers (FreshRunProbe)
//   ... -- --probe-reset [resets per kind] [recycled runs]
//                          PythonSandbox.ResetAsync after each kind of run, and memory over many recycled runs (ResetProbe)
//   ... -- --probe-cluster [seconds]
//                          the cluster hop: session and fresh runs through SandboxPool, then SandboxCluster on 1 and 2
//                          Orleans silos (ClusterProbe)
//   ... -- --probe-soak [requests] [--seed N] [--sample-every N] [--row-every N] [--cli PATH]
//                          memory of one `pyodide-sandbox serve` process under a long mixed load (SoakProbe)
if (args.Contains("--memory"))
{
    await MemoryProbe.RunAsync(Console.Out);
    return 0;
}

if (args.Contains("--probe-cold"))
{
    await ColdProbe.RunAsync(Console.Out);
    return 0;
}

if (args.Contains("--probe-one-shot"))
{
    await OneShotProbe.RunAsync(args, Console.Out);
    return 0;
}

if (args.Contains("--probe-fresh-runs"))
{
    await FreshRunProbe.RunAsync(args, Console.Out);
    return 0;
}

if (args.Contains("--probe-reset"))
{
    await ResetProbe.RunAsync(args, Console.Out);
    return 0;
}

if (args.Contains("--probe-cluster"))
{
    await ClusterProbe.RunAsync(args, Console.Out);
    return 0;
}

if (args.Contains("--probe-soak"))
{
    await SoakProbe.RunAsync(args, Console.Out);
    return 0;
}

if (args.Contains("--quick"))
{
    Environment.SetEnvironmentVariable(BenchMode.QuickVariable, "1");
    args = args.Where(a => a != "--quick").ToArray();
}

var config = DefaultConfig.Instance.AddColumn(new P99Column());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
return 0;

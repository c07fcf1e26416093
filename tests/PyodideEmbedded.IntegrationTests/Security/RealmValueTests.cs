namespace PyodideEmbedded.IntegrationTests.Security;

/// <summary>
/// Issue 13, class 4: every value the realm hands the host is checked (type, range, finiteness), and no
/// .NET exception message or type name reaches a result, whatever the realm's shared prototypes do.
/// </summary>
public sealed class RealmValueTests
{
    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task AwaitingRun_RealmMakesThePollDelayNaN_RunCompletesWithoutHostText()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        // The host's timer queue is a Map: with its values() rewritten, the delay to the next timer is NaN.
        var result = await EscapeAssert.RunAttackAsync(sandbox, """
            import asyncio
            __import__('sys').modules['pyodide_js'].constructor.constructor(r'''
            Map.prototype.values = function () { return [{ due: NaN }, { due: 'soon' }][Symbol.iterator](); };
            Math.min = () => NaN;
            Math.max = () => NaN;
            ''')()
            await asyncio.sleep(0.05)
            'done'
            """);

        Assert.True(result.Succeeded, result.Error?.Summary);
        Assert.Equal("done", result.Value!.Value.GetString());
        Assert.False(result.SandboxLost);
    }

    [Fact(Timeout = TestOptions.TestTimeoutMs)]
    public async Task EngineFailure_FromHostCode_NamesNoDotNetType()
    {
        await using var sandbox = await PythonSandbox.CreateAsync(TestOptions.Default);

        // The run dispatcher returns whatever the realm's run() returns; a number is not an envelope.
        var result = await EscapeAssert.RunAttackAsync(sandbox, """
            import asyncio
            __import__('sys').modules['pyodide_js'].constructor.constructor(r'''
            Map.prototype[Symbol.iterator] = function () { throw new TypeError('no timers for you'); };
            ''')()
            await asyncio.sleep(0.05)
            """);

        foreach (var text in new[] { result.Error?.Message ?? "", result.Error?.Traceback ?? "", result.Stdout, result.Stderr })
        {
            Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
            Assert.DoesNotContain("ClearScript", text, StringComparison.Ordinal);
            Assert.DoesNotContain("TimeSpan", text, StringComparison.Ordinal);
        }
    }
}

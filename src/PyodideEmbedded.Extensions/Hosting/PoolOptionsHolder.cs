using Microsoft.Extensions.Options;

namespace PyodideEmbedded.Hosting;

/// <summary>The options pattern mutates what it configures; <see cref="SandboxPoolOptions"/> is immutable, so the
/// configure steps replace it here instead.</summary>
internal sealed class PoolOptionsHolder
{
    public SandboxPoolOptions Value { get; set; } = new();
}

/// <summary>Checks the options the way the pool will (making a pool starts nothing), so that the host stops at start-up.</summary>
internal sealed class PoolOptionsValidation : IValidateOptions<PoolOptionsHolder>
{
    public ValidateOptionsResult Validate(string? name, PoolOptionsHolder options)
    {
        try
        {
            new SandboxPool(options.Value).Dispose();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail($"PythonSandbox options: {e.Message}");
        }
    }
}

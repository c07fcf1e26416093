using PyodideEmbedded.Internal;

namespace PyodideEmbedded.Tests;

/// <summary>The delay before an awaiting run's next poll comes from the realm: only a finite, in-range number counts.</summary>
public sealed class PollDelayTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(20);

    public static TheoryData<object?> NotADelay => new()
    {
        double.NaN, double.PositiveInfinity, double.NegativeInfinity, -1.0, -5, 1e300, "5", null, new object(), true, 20.0,
    };

    [Theory]
    [MemberData(nameof(NotADelay))]
    public void PollDelay_AnythingButAFiniteSmallNumber_IsTheIdleInterval(object? polled) =>
        Assert.Equal(Idle, PyodideEngine.PollDelay(polled));

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(3.5, 3.5)]
    [InlineData(19.0, 19.0)]
    public void PollDelay_FiniteNumberBelowTheIdleInterval_IsKept(double polled, double expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), PyodideEngine.PollDelay(polled));

    [Fact]
    public void PollDelay_Integer_IsKept() => Assert.Equal(TimeSpan.FromMilliseconds(7), PyodideEngine.PollDelay(7));
}

using Microsoft.Extensions.Options;

namespace CacheRegistry.Common;

/// <summary>
/// The rules of one configuration section, kept beside the feature they guard. Every rule is
/// checked and every problem reported (one line each), so an operator fixes a file in one round.
/// </summary>
public abstract class OptionRules<T> : IValidateOptions<T> where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var problems = new OptionProblems();
        Check(options, problems);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    protected abstract void Check(T o, OptionProblems p);
}

/// <summary>The problems found in a section: one line each, naming the key, its value and what was expected.</summary>
public sealed class OptionProblems : List<string>
{
    public void Require(bool ok, string problem)
    {
        if (!ok) Add(problem);
    }

    /// <summary>Every duration given must be above zero.</summary>
    public void Positive(string section, params (string Name, TimeSpan Value)[] durations)
    {
        foreach (var (name, value) in durations) Require(value > TimeSpan.Zero, $"{section}:{name} = {value}: expected more than zero");
    }

    /// <summary>Every duration given must be zero or more.</summary>
    public void NotNegative(string section, params (string Name, TimeSpan Value)[] durations)
    {
        foreach (var (name, value) in durations) Require(value >= TimeSpan.Zero, $"{section}:{name} = {value}: expected zero or more");
    }

    public void PositiveSize(string key, ByteSize? size) => Require(size is not { Bytes: <= 0 }, $"{key} = {size}: expected a size above zero");
}

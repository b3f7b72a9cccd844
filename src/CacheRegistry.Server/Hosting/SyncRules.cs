using System.Text.RegularExpressions;
using CacheRegistry.Oci;

namespace CacheRegistry.Server.Hosting;

/// <summary><c>Registry:Sync</c>: what <see cref="SyncService"/> keeps fresh.</summary>
internal sealed class SyncRules : OptionRules<RegistryOptions>
{
    protected override void Check(RegistryOptions o, OptionProblems p)
    {
        for (var i = 0; i < o.Sync.Count; i++)
        {
            var s = o.Sync[i];
            var key = $"Registry:Sync:{i}";
            p.Require((s.Image is null) != (s.Repository is null), $"{key}: expected exactly one of Image or Repository");
            foreach (var (name, value) in new[] { ("Image", s.Image), ("Repository", s.Repository) })
            {
                if (value is null) continue;
                try
                {
                    ImageReference.Parse(value);
                }
                catch (FormatException e)
                {
                    p.Add($"{key}:{name} = '{value}': {e.Message}");
                }
            }
            try
            {
                _ = new Regex(s.Tags, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                p.Add($"{key}:Tags = '{s.Tags}': not a regular expression ({e.Message})");
            }
            p.Require(s.MaxTags >= 1, $"{key}:MaxTags = {s.MaxTags}: expected 1 or more");
            p.Positive(key, ("Interval", s.Interval));
        }
    }
}

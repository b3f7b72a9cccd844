using YamlDotNet.Serialization;

namespace CacheRegistry.Tests.Infrastructure;

/// <summary>One rendered Kubernetes object, navigable by key path.</summary>
public sealed record K8sObject(string Kind, string Name, Dictionary<object, object> Body)
{
    /// <summary>
    /// The value at a dotted path (<c>spec.template.spec.securityContext.runAsNonRoot</c>), then at
    /// <paramref name="keys"/> taken as they are (keys with dots: <c>helm.sh/resource-policy</c>), or null.
    /// </summary>
    public object? At(string path, params string[] keys)
    {
        object? node = Body;
        foreach (var key in path.Split('.').Concat(keys))
        {
            node = node switch
            {
                Dictionary<object, object> map => map.GetValueOrDefault(key),
                List<object> list when int.TryParse(key, out var i) && i < list.Count => list[i],
                _ => null,
            };
            if (node is null) return null;
        }
        return node;
    }

    public string? Text(string path, params string[] keys) => At(path, keys)?.ToString();
}

/// <summary>
/// The Helm chart rendered with helm-render (built once from tools/, with Debian's Go) and checked
/// with k8s-validate and values-validate: the stand-ins for helm template, the API server's schema
/// check and helm install's values check (tools/README.md).
/// </summary>
public static class HelmChart
{
    private static readonly Lazy<Task<string>> Renderer = new(BuildAsync);

    public static string ChartDir => RepoFiles.Path("helm/cacheregistry");

    private static async Task<string> BuildAsync()
    {
        var binary = Path.Combine(Net.TempDir("helm-render"), "helm-render");
        await ProcessRunner.RunCheckedAsync("bash", [RepoFiles.Path("tools/helm-render/build.sh"), binary], TimeSpan.FromMinutes(5));
        return binary;
    }

    /// <summary>Renders with <c>--set</c> pairs; the exit code and output (the manifests, or the failure).</summary>
    public static async Task<ProcessRunner.Result> RenderAsync(params string[] sets) =>
        await ProcessRunner.RunAsync(await Renderer.Value, [.. sets.SelectMany(s => new[] { "--set", s }), "--name", "mirror", "--namespace", "registry", ChartDir]);

    /// <summary>Renders with a values file (as <c>-f</c>), for lists and maps <c>--set</c> cannot spell.</summary>
    public static async Task<ProcessRunner.Result> RenderValuesAsync(string valuesYaml)
    {
        var file = Path.Combine(Net.TempDir("values"), "values.yaml");
        await File.WriteAllTextAsync(file, valuesYaml);
        return await ProcessRunner.RunAsync(await Renderer.Value, ["-f", file, "--name", "mirror", "--namespace", "registry", ChartDir]);
    }

    public static async Task<IReadOnlyList<K8sObject>> RenderObjectsAsync(params string[] sets)
    {
        var rendered = await RenderAsync(sets);
        Assert.True(rendered.ExitCode == 0, rendered.Output);
        return Parse(rendered.Output);
    }

    public static IReadOnlyList<K8sObject> Parse(string manifests)
    {
        var yaml = new DeserializerBuilder().Build();
        return manifests.Split("\n---", StringSplitOptions.RemoveEmptyEntries)
            .Select(doc => yaml.Deserialize<Dictionary<object, object>?>(doc))
            .OfType<Dictionary<object, object>>()
            .Select(body => new K8sObject((string)body["kind"], (string)((Dictionary<object, object>)body["metadata"])["name"], body))
            .ToList();
    }

    public static Task<ProcessRunner.Result> ValidateObjectsAsync(string manifests) =>
        ProcessRunner.RunAsync("bash", [RepoFiles.Path("tools/k8s-validate/k8s-validate.sh")], TimeSpan.FromMinutes(5), stdin: manifests);

    public static async Task<ProcessRunner.Result> ValidateValuesAsync(string? valuesYaml = null)
    {
        string[] files = [];
        if (valuesYaml is not null)
        {
            var file = Path.Combine(Net.TempDir("values"), "values.yaml");
            await File.WriteAllTextAsync(file, valuesYaml);
            files = [file];
        }
        return await ProcessRunner.RunAsync("bash", [RepoFiles.Path("tools/values-validate/values-validate.sh"), ChartDir, .. files], TimeSpan.FromMinutes(5));
    }
}

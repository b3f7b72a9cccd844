using System.Text.Json;
using CacheRegistry.Tests.Infrastructure;

namespace CacheRegistry.Tests.Integration;

/// <summary>
/// helm/cacheregistry rendered and checked without a cluster (tools/README.md): valid objects in
/// both storage modes, a hardened pod, the configuration the server itself accepts, and refusals
/// with a reason for what cannot work.
/// </summary>
public sealed class HelmChartTests
{
    private static readonly string[] Shared =
        ["replicaCount=3", "storage.mode=shared", "redis.enabled=true", "minio.enabled=true", "minio.rootPassword=change-me-please"];

    [Fact]
    public async Task The_embedded_default_renders_valid_objects_and_a_hardened_pod()
    {
        var rendered = await HelmChart.RenderAsync();
        Assert.True(rendered.ExitCode == 0, rendered.Output);
        var validation = await HelmChart.ValidateObjectsAsync(rendered.Output);
        Assert.True(validation.ExitCode == 0, validation.Output);
        var objects = HelmChart.Parse(rendered.Output);
        Assert.Equal(["ConfigMap", "Deployment", "PersistentVolumeClaim", "PodDisruptionBudget", "Secret", "Service"], objects.Select(o => o.Kind).Order());

        var deployment = objects.Single(o => o.Kind == "Deployment");
        Assert.Equal("Recreate", deployment.Text("spec.strategy.type")); // one pod owns the volume
        Assert.Equal("true", deployment.Text("spec.template.spec.securityContext.runAsNonRoot"));
        Assert.Equal("RuntimeDefault", deployment.Text("spec.template.spec.securityContext.seccompProfile.type"));
        var container = "spec.template.spec.containers.0.";
        Assert.Equal("true", deployment.Text(container + "securityContext.readOnlyRootFilesystem"));
        Assert.Equal("false", deployment.Text(container + "securityContext.allowPrivilegeEscalation"));
        Assert.Equal("ALL", deployment.Text(container + "securityContext.capabilities.drop.0"));
        Assert.Equal("/healthz", deployment.Text(container + "livenessProbe.httpGet.path"));
        Assert.Equal("/readyz", deployment.Text(container + "readinessProbe.httpGet.path"));
        Assert.Equal("/healthz", deployment.Text(container + "startupProbe.httpGet.path"));
        Assert.NotNull(deployment.Text("spec.template.metadata.annotations.checksum/config"));
        // The pod outlives the cache's own drain of running downloads.
        Assert.True(int.Parse(deployment.Text("spec.template.spec.terminationGracePeriodSeconds")!, System.Globalization.CultureInfo.InvariantCulture)
            > new TimeoutOptions().Shutdown.TotalSeconds);
        var claim = objects.Single(o => o.Kind == "PersistentVolumeClaim");
        Assert.Equal(("mirror-cacheregistry", "keep"), (claim.Name, claim.Text("metadata.annotations", "helm.sh/resource-policy")));
    }

    [Fact]
    public async Task Shared_storage_renders_replicas_spread_over_nodes_with_in_chart_redis_and_minio()
    {
        var rendered = await HelmChart.RenderAsync(Shared);
        Assert.True(rendered.ExitCode == 0, rendered.Output);
        var validation = await HelmChart.ValidateObjectsAsync(rendered.Output);
        Assert.True(validation.ExitCode == 0, validation.Output);
        var objects = HelmChart.Parse(rendered.Output);
        Assert.Equal(2, objects.Count(o => o.Kind == "StatefulSet"));
        Assert.DoesNotContain(objects, o => o.Kind == "PersistentVolumeClaim");
        var deployment = objects.Single(o => o.Kind == "Deployment");
        Assert.Equal("3", deployment.Text("spec.replicas"));
        Assert.Null(deployment.At("spec.strategy"));
        Assert.Equal("kubernetes.io/hostname", deployment.Text("spec.template.spec.topologySpreadConstraints.0.topologyKey"));

        // Replicas stream each other's running downloads: each advertises its pod address, all share a generated secret.
        var env = EnvOf(deployment);
        Assert.Equal("status.podIP", env["POD_IP"].Text("valueFrom.fieldRef.fieldPath"));
        Assert.Equal("http://$(POD_IP):5000", env["Registry__Cluster__AdvertiseUrl"].Text("value"));
        Assert.Equal("cluster-secret", env["Registry__Cluster__Secret"].Text("valueFrom.secretKeyRef.key"));
        Assert.Equal(40, objects.Single(o => o.Kind == "Secret").Text("stringData", "cluster-secret")!.Length);
        var given = HelmChart.Parse((await HelmChart.RenderAsync([.. Shared, "cluster.secret=from-values-0123456789"])).Output);
        Assert.Equal("from-values-0123456789", given.Single(o => o.Kind == "Secret").Text("stringData", "cluster-secret"));
        var v6 = HelmChart.Parse((await HelmChart.RenderAsync([.. Shared, "cluster.podIPFamily=IPv6"])).Output).Single(o => o.Kind == "Deployment");
        Assert.Equal("http://[$(POD_IP)]:5000", EnvOf(v6)["Registry__Cluster__AdvertiseUrl"].Text("value"));
        var off = HelmChart.Parse((await HelmChart.RenderAsync([.. Shared, "cluster.streamFills=false"])).Output).Single(o => o.Kind == "Deployment");
        Assert.False(EnvOf(off).ContainsKey("Registry__Cluster__AdvertiseUrl"));
    }

    /// <summary>The first container's environment by variable name.</summary>
    private static Dictionary<string, K8sObject> EnvOf(K8sObject deployment) =>
        ((List<object>)deployment.At("spec.template.spec.containers.0.env")!).Cast<Dictionary<object, object>>()
            .ToDictionary(e => (string)e["name"], e => new K8sObject("EnvVar", (string)e["name"], e));

    [Fact]
    public async Task The_configuration_it_writes_is_one_the_server_accepts_and_a_change_rolls_the_pods()
    {
        string[] settings = [.. Shared, "registry.TagTtl=00:10:00", "registry.Cache.MaxSize=200GiB"];
        var objects = await HelmChart.RenderObjectsAsync(settings);
        var json = objects.Single(o => o.Kind == "ConfigMap").Text("data", "cacheregistry.json")!;
        var registry = JsonDocument.Parse(json).RootElement.GetProperty("Registry");
        Assert.Equal("S3", registry.GetProperty("Storage").GetProperty("Kind").GetString());
        Assert.Equal("http://mirror-cacheregistry-minio:9000", registry.GetProperty("Storage").GetProperty("S3").GetProperty("ServiceUrl").GetString());
        Assert.Equal("mirror-cacheregistry-redis:6379", registry.GetProperty("Metadata").GetProperty("Configuration").GetString());
        Assert.Equal("00:10:00", registry.GetProperty("TagTtl").GetString());

        // The server's own check of every key: the command line reads the file as the pod does.
        var file = Path.Combine(Net.TempDir("chart-config"), "cacheregistry.json");
        await File.WriteAllTextAsync(file, json);
        var accepted = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--only", "kubeadm", "--config", file);
        Assert.True(accepted.ExitCode == 0, accepted.Output);
        var misspelt = await HelmChart.RenderObjectsAsync([.. Shared, "registry.TagLife=00:10:00"]);
        await File.WriteAllTextAsync(file, misspelt.Single(o => o.Kind == "ConfigMap").Text("data", "cacheregistry.json")!);
        var refused = await Cli.RunAsync("client-config", "--address", "mirror:5000", "--config", file);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("Registry:TagLife", refused.Output);

        var before = objects.Single(o => o.Kind == "Deployment").Text("spec.template.metadata.annotations.checksum/config");
        var after = (await HelmChart.RenderObjectsAsync([.. Shared, "registry.TagTtl=00:20:00"])).Single(o => o.Kind == "Deployment").Text("spec.template.metadata.annotations.checksum/config");
        Assert.NotEqual(before, after);
    }

    [Fact]
    public async Task The_node_daemonset_runs_client_config_install_into_the_nodes_certs_d_with_an_address_nodes_can_reach()
    {
        var rendered = await HelmChart.RenderAsync("nodeConfig.enabled=true", "service.clusterIP=10.96.0.50");
        Assert.True(rendered.ExitCode == 0, rendered.Output);
        var validation = await HelmChart.ValidateObjectsAsync(rendered.Output);
        Assert.True(validation.ExitCode == 0, validation.Output);
        var daemonSet = HelmChart.Parse(rendered.Output).Single(o => o.Kind == "DaemonSet");
        var args = ((List<object>)daemonSet.At("spec.template.spec.containers.0.args")!).Cast<string>().ToList();
        Assert.Equal(["client-config", "--config", "/etc/cacheregistry/cacheregistry.json", "--install", "/host/certs.d", "--address", "10.96.0.50:5000"], args);
        Assert.Equal("/etc/containerd/certs.d", daemonSet.Text("spec.template.spec.volumes.1.hostPath.path"));
        Assert.Equal("ALL", daemonSet.Text("spec.template.spec.containers.0.securityContext.capabilities.drop.0"));
        Assert.Equal("true", daemonSet.Text("spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem"));

        // With a NodePort, each node reaches the cache on its own address.
        var nodePort = HelmChart.Parse((await HelmChart.RenderAsync("nodeConfig.enabled=true", "service.type=NodePort", "service.nodePort=30500")).Output)
            .Single(o => o.Kind == "DaemonSet");
        Assert.Equal("$(HOST_IP):30500", ((List<object>)nodePort.At("spec.template.spec.containers.0.args")!).Last());
    }

    [Fact]
    public async Task Monitoring_policy_autoscaling_and_routing_objects_render_and_point_at_the_service()
    {
        var rendered = await HelmChart.RenderAsync([.. Shared, "autoscaling.enabled=true", "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
            "networkPolicy.enabled=true", "ingress.enabled=true", "ingress.hosts[0]=mirror.lan", "httpRoute.enabled=true"]);
        Assert.True(rendered.ExitCode == 0, rendered.Output);
        var objects = HelmChart.Parse(rendered.Output);
        // The Kubernetes API's own kinds against its schemas; the operator and Gateway API kinds by hand below.
        var custom = new[] { "ServiceMonitor", "PrometheusRule", "HTTPRoute" };
        var standard = string.Join("\n---\n", rendered.Output.Split("\n---").Where(doc => !custom.Any(kind => doc.Contains("\nkind: " + kind + "\n", StringComparison.Ordinal))));
        var validation = await HelmChart.ValidateObjectsAsync(standard);
        Assert.True(validation.ExitCode == 0, validation.Output);
        Assert.Equal(["HTTPRoute", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PrometheusRule", "ServiceMonitor"],
            objects.Select(o => o.Kind).Where(k => k is "HorizontalPodAutoscaler" or "Ingress" or "NetworkPolicy" || custom.Contains(k)).Order(StringComparer.Ordinal));
        Assert.Null(objects.Single(o => o.Kind == "Deployment").At("spec.replicas")); // the autoscaler's to set

        var service = objects.Single(o => o.Kind == "Service" && o.Name == "mirror-cacheregistry");
        var monitor = objects.Single(o => o.Kind == "ServiceMonitor");
        Assert.Equal(service.Text("spec.ports.0.name"), monitor.Text("spec.endpoints.0.port"));
        Assert.Equal("/metrics", monitor.Text("spec.endpoints.0.path"));
        foreach (var (key, value) in (Dictionary<object, object>)monitor.At("spec.selector.matchLabels")!)
            Assert.Equal(value, service.At("metadata.labels", (string)key));
        var route = objects.Single(o => o.Kind == "HTTPRoute");
        Assert.Equal((service.Name, service.Text("spec.ports.0.port")), (route.Text("spec.rules.0.backendRefs.0.name")!, route.Text("spec.rules.0.backendRefs.0.port")));

        // The PrometheusRule carries deploy/'s alert rules unchanged, and promtool accepts them as rendered.
        var rules = objects.Single(o => o.Kind == "PrometheusRule").At("spec")!;
        var deployRules = new YamlDotNet.Serialization.DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(
            await File.ReadAllTextAsync(RepoFiles.Path("deploy/prometheus/cacheregistry-alerts.yml")));
        Assert.Equal(JsonSerializer.Serialize(deployRules), JsonSerializer.Serialize(rules));
        var file = Path.Combine(Net.TempDir("chart-rules"), "rules.yml");
        await File.WriteAllTextAsync(file, new YamlDotNet.Serialization.SerializerBuilder().Build().Serialize(rules));
        var check = await ProcessRunner.RunAsync(ProcessRunner.Require("promtool"), ["check", "rules", file]);
        Assert.True(check.ExitCode == 0, check.Output);
    }

    private const string WellKnownValues = """
        fullnameOverride: mirror
        serviceAccount: {create: true, annotations: {iam.example/role: cache}}
        podLabels: {team: infra}
        service: {annotations: {lb.example/internal: "true"}}
        priorityClassName: system-cluster-critical
        # As on OpenShift: the platform assigns the user and group.
        podSecurityContext: {runAsUser: null, runAsGroup: null, fsGroup: null}
        extraEnv: [{name: HTTPS_PROXY, value: "http://proxy.lan:3128"}]
        extraVolumes: [{name: ca, configMap: {name: corporate-ca}}]
        extraVolumeMounts: [{name: ca, mountPath: /etc/ssl/corporate}]
        auth: {htpasswd: {existingSecret: mirror-users}}
        tls: {existingSecret: mirror-tls}
        """;

    [Fact]
    public async Task Values_of_well_known_charts_render_valid_objects_with_login_and_tls_from_secrets_of_ones_own()
    {
        var schema = await HelmChart.ValidateValuesAsync(WellKnownValues);
        Assert.True(schema.ExitCode == 0, schema.Output);
        var rendered = await HelmChart.RenderValuesAsync(WellKnownValues);
        Assert.True(rendered.ExitCode == 0, rendered.Output);
        var validation = await HelmChart.ValidateObjectsAsync(rendered.Output);
        Assert.True(validation.ExitCode == 0, validation.Output);
        var objects = HelmChart.Parse(rendered.Output);
        Assert.All(objects.Where(o => o.Kind is "Deployment" or "Service" or "ConfigMap" or "Secret"), o => Assert.Equal("mirror", o.Name));
        Assert.Equal("cache", objects.Single(o => o.Kind == "ServiceAccount").Text("metadata.annotations", "iam.example/role"));
        Assert.Equal("true", objects.Single(o => o.Kind == "Service").Text("metadata.annotations", "lb.example/internal"));

        var deployment = objects.Single(o => o.Kind == "Deployment");
        var pod = "spec.template.spec.";
        Assert.Equal("mirror", deployment.Text(pod + "serviceAccountName"));
        Assert.Equal("infra", deployment.Text("spec.template.metadata.labels.team"));
        Assert.Equal("system-cluster-critical", deployment.Text(pod + "priorityClassName"));
        Assert.Null(deployment.At(pod + "securityContext.runAsUser"));
        Assert.Equal("true", deployment.Text(pod + "securityContext.runAsNonRoot")); // the rest of the default stays
        var env = EnvOf(deployment);
        Assert.Equal("http://proxy.lan:3128", env["HTTPS_PROXY"].Text("value"));
        var mounts = ((List<object>)deployment.At(pod + "containers.0.volumeMounts")!).Cast<Dictionary<object, object>>().ToDictionary(m => (string)m["name"], m => (string)m["mountPath"]);
        var volumes = ((List<object>)deployment.At(pod + "volumes")!).Cast<Dictionary<object, object>>().ToDictionary(v => (string)v["name"]);
        Assert.Equal("/etc/ssl/corporate", mounts["ca"]);

        // Login: the Secret's htpasswd key as a file the server reads (and re-reads when the Secret changes: no subPath).
        Assert.Equal("mirror-users", ((Dictionary<object, object>)volumes["htpasswd"]["secret"])["secretName"]);
        Assert.Equal(mounts["htpasswd"] + "/htpasswd", env["Registry__Auth__Htpasswd"].Text("value"));
        // TLS: the kubernetes.io/tls Secret's two keys; HTTPS on the service port, probes on the plain port.
        Assert.Equal("mirror-tls", ((Dictionary<object, object>)volumes["tls"]["secret"])["secretName"]);
        Assert.Equal(mounts["tls"] + "/tls.crt", env["Registry__Tls__Certificate"].Text("value"));
        Assert.Equal(mounts["tls"] + "/tls.key", env["Registry__Tls__Key"].Text("value"));
        Assert.Contains("https://0.0.0.0:5000", ((List<object>)deployment.At(pod + "containers.0.args")!).Cast<string>());
        Assert.Equal("5080", env["Registry__Tls__HttpPort"].Text("value"));
        Assert.Equal("plain", deployment.Text(pod + "containers.0.readinessProbe.httpGet.port"));
        Assert.Equal("5080", deployment.Text(pod + "containers.0.ports.1.containerPort"));

        var unknown = await HelmChart.ValidateValuesAsync("auth:\n  htpasswd:\n    secret: x\n");
        Assert.NotEqual(0, unknown.ExitCode);
    }

    [Fact]
    public async Task A_secret_change_rolls_the_pods_and_what_the_chart_generates_does_not()
    {
        static async Task<string?> SecretChecksum(params string[] sets) =>
            (await HelmChart.RenderObjectsAsync(sets)).Single(o => o.Kind == "Deployment").Text("spec.template.metadata.annotations.checksum/secret");
        // The generated cluster secret differs between these two renders (no cluster to look it up in); the pods must not roll for it.
        Assert.Equal(await SecretChecksum(Shared), await SecretChecksum(Shared));
        Assert.NotEqual(await SecretChecksum(Shared), await SecretChecksum([.. Shared, "adminToken=new-token"]));
        Assert.NotEqual(await SecretChecksum(), await SecretChecksum("auth.htpasswd.existingSecret=users"));

        // Embedded mode has no replicas to share a secret with.
        var embedded = await HelmChart.RenderObjectsAsync();
        Assert.Null(embedded.Single(o => o.Kind == "Secret").Text("stringData", "cluster-secret"));

        // A Secret of one's own without redis-password: no password, never a literal $(REDIS_PASSWORD).
        var own = await HelmChart.RenderAsync([.. Shared, "existingSecret=mine"]);
        Assert.True(own.ExitCode == 0, own.Output);
        Assert.DoesNotContain("$(REDIS_PASSWORD)", own.Output);
        var password = EnvOf(HelmChart.Parse(own.Output).Single(o => o.Kind == "Deployment"))["Registry__Metadata__Password"];
        Assert.Equal(("mine", "redis-password", "true"), (password.Text("valueFrom.secretKeyRef.name"), password.Text("valueFrom.secretKeyRef.key"), password.Text("valueFrom.secretKeyRef.optional")));
    }

    [Fact]
    public async Task The_image_tag_notes_and_monitor_match_what_is_built_and_served()
    {
        var chart = await File.ReadAllTextAsync(RepoFiles.Path("helm/cacheregistry/Chart.yaml"));
        var appVersion = System.Text.RegularExpressions.Regex.Match(chart, "appVersion: \"?([^\"\n]+)").Groups[1].Value;
        var deployment = (await HelmChart.RenderObjectsAsync()).Single(o => o.Kind == "Deployment");
        Assert.Equal($"cacheregistry:{appVersion}", deployment.Text("spec.template.spec.containers.0.image"));
        // deploy/build-image.sh tags the image with the chart's appVersion when no tag is given, as the README says.
        Assert.Contains("helm/cacheregistry/Chart.yaml", await File.ReadAllTextAsync(RepoFiles.Path("deploy/build-image.sh")));
        Assert.Contains($"`cacheregistry:{appVersion}`", await File.ReadAllTextAsync(RepoFiles.Path("README.md")));

        // NOTES' client-config reads the chart's configuration, so it prints the chart's registries.
        var notes = await File.ReadAllTextAsync(RepoFiles.Path("helm/cacheregistry/templates/NOTES.txt"));
        Assert.Contains("client-config --config /etc/cacheregistry/cacheregistry.json", notes);

        // The ServiceMonitor selects the cache's Service alone, not the in-chart Redis or MinIO.
        var objects = await HelmChart.RenderObjectsAsync([.. Shared, "metrics.serviceMonitor.enabled=true"]);
        var selector = (Dictionary<object, object>)objects.Single(o => o.Kind == "ServiceMonitor").At("spec.selector.matchLabels")!;
        var selected = objects.Where(o => o.Kind == "Service" && selector.All(l => Equals(o.At("metadata.labels", (string)l.Key), l.Value))).Select(o => o.Name);
        Assert.Equal(["mirror-cacheregistry"], selected);
    }

    [Theory]
    [InlineData("autoscaling.enabled=true", "autoscaling.enabled needs storage.mode=shared")]
    [InlineData("nodeConfig.enabled=true", "nodeConfig.enabled needs an address nodes can reach")]
    [InlineData("replicaCount=3", "replicaCount > 1 needs storage.mode=shared")]
    [InlineData("storage.mode=shared", "storage.mode=shared needs storage.shared.redis.configuration")]
    [InlineData("podDisruptionBudget.minAvailable=1", "set exactly one of minAvailable and maxUnavailable")]
    [InlineData("minio.enabled=true", "minio.enabled needs minio.rootPassword")]
    public async Task What_cannot_work_is_refused_with_the_reason(string set, string reason)
    {
        var rendered = await HelmChart.RenderAsync(set);
        Assert.NotEqual(0, rendered.ExitCode);
        Assert.Contains(reason, rendered.Output);
    }

    [Fact]
    public async Task The_values_schema_accepts_the_defaults_and_refuses_unknown_or_wrong_keys()
    {
        var defaults = await HelmChart.ValidateValuesAsync();
        Assert.True(defaults.ExitCode == 0, defaults.Output);
        var misspelt = await HelmChart.ValidateValuesAsync("replicas: 2\n");
        Assert.NotEqual(0, misspelt.ExitCode);
        Assert.Contains("replicas", misspelt.Output);
        var wrong = await HelmChart.ValidateValuesAsync("storage:\n  mode: local\n");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("/storage/mode", wrong.Output);
    }
}

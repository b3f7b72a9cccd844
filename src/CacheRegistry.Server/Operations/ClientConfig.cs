using CacheRegistry.Oci;
using System.Text;
using CacheRegistry.Upstream;

namespace CacheRegistry.Server.Operations;

/// <summary>
/// Ready-to-use client snippets for a cache reached at an address: Docker's registry-mirrors,
/// containerd hosts.toml per upstream, CRI-O/podman registries.conf mirrors, kubeadm's imageRepository.
/// </summary>
internal static class ClientConfig
{
    public static readonly string[] Sections = ["docker", "containerd", "crio", "kubeadm"];

    public static string Render(string address, bool https, UpstreamSet upstreams, string? only = null)
    {
        var scheme = https ? "https" : "http";
        var registries = upstreams.All.OrderBy(u => DockerHub.Is(u.Name) ? "" : u.Name).ToList();
        var sb = new StringBuilder();
        if (only is null or "docker")
        {
            sb.AppendLine("# Docker: /etc/docker/daemon.json (then restart dockerd). Docker mirrors only Docker Hub images.");
            sb.AppendLine("{");
            sb.Append($"  \"registry-mirrors\": [\"{scheme}://{address}\"]");
            sb.AppendLine(https ? "" : ",");
            if (!https) sb.AppendLine($"  \"insecure-registries\": [\"{address}\"]");
            sb.AppendLine("}");
            sb.AppendLine();
        }
        if (only is null or "containerd")
        {
            sb.AppendLine("# containerd: one file per registry; set config_path = \"/etc/containerd/certs.d\" in config.toml (containerd 1.x CRI plugin).");
            foreach (var u in registries)
                // containerd names Docker Hub images docker.io whatever the user typed.
                foreach (var host in new[] { u.Name }.Concat(upstreams.AliasesOf(u)).Where(h => !DockerHub.Aliases.Contains(h)))
                {
                    sb.AppendLine($"# /etc/containerd/certs.d/{host}/hosts.toml");
                    sb.AppendLine($"server = \"{Origin(host)}\"");
                    sb.AppendLine();
                    sb.AppendLine($"[host.\"{scheme}://{address}\"]");
                    sb.AppendLine("  capabilities = [\"pull\", \"resolve\"]");
                    sb.AppendLine();
                }
        }
        if (only is null or "crio")
        {
            sb.AppendLine("# CRI-O / podman / skopeo: /etc/containers/registries.conf.d/cacheregistry.conf");
            foreach (var u in registries)
            {
                sb.AppendLine("[[registry]]");
                sb.AppendLine($"prefix = \"{u.Name}\"");
                sb.AppendLine($"location = \"{new Uri(Origin(u.Name)).Host}\"");
                sb.AppendLine("[[registry.mirror]]");
                sb.AppendLine($"location = \"{address}/{u.Name}\"");
                if (!https) sb.AppendLine("insecure = true");
                sb.AppendLine();
            }
        }
        if (only is null or "kubeadm")
        {
            sb.AppendLine("# kubeadm: ClusterConfiguration (kubeadm init --config …); images come through the cache's path prefix.");
            sb.AppendLine("apiVersion: kubeadm.k8s.io/v1beta3");
            sb.AppendLine("kind: ClusterConfiguration");
            sb.AppendLine($"imageRepository: {address}/registry.k8s.io");
        }
        return sb.ToString();
    }

    /// <summary>The registry's own API host, as containerd's "server" and registries.conf's "location".</summary>
    private static string Origin(string host) => host switch
    {
        _ when DockerHub.Is(host) => DockerHub.ApiUrl,
        _ => "https://" + host,
    };
}

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

    /// <param name="ca">Where nodes keep the CA that signed the cache's certificate (with <paramref name="https"/>), for the snippets that name it.</param>
    public static string Render(string address, bool https, UpstreamSet upstreams, string? only = null, string? ca = null)
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
            if (https && ca is not null) sb.AppendLine($"# Docker trusts the cache's CA when it is at /etc/docker/certs.d/{address}/ca.crt (copy {ca} there).");
            sb.AppendLine("# Docker reads registry-mirrors for Docker Hub only. For another registry, give the cache one more DNS name");
            sb.AppendLine("# and map it in the cache's configuration, \"Registry\": { \"Hosts\": { \"k8s.mirror.lan\": \"registry.k8s.io\" } }, then");
            sb.AppendLine("#   docker pull k8s.mirror.lan/pause:3.10" + (https ? "" : "   (plain HTTP: list k8s.mirror.lan in insecure-registries too)"));
            sb.AppendLine("# or, without DNS, name the registry in the path: docker pull " + address + "/registry.k8s.io/pause:3.10");
            sb.AppendLine();
        }
        if (only is null or "containerd")
        {
            sb.AppendLine("# containerd: one hosts.toml per registry under the CRI plugin's config_path, in config.toml:");
            sb.AppendLine("#   containerd 2.x:     [plugins.\"io.containerd.cri.v1.images\".registry]  config_path = \"/etc/containerd/certs.d\"");
            sb.AppendLine("#   containerd 1.6/1.7: [plugins.\"io.containerd.grpc.v1.cri\".registry]   config_path = \"/etc/containerd/certs.d\"");
            sb.AppendLine("# dial_timeout (containerd 2.1+, ignored before): with the cache down, a node goes to the registry itself after that long.");
            sb.AppendLine();
            foreach (var (host, content) in HostsFiles(address, https, upstreams, ca))
            {
                sb.AppendLine($"# /etc/containerd/certs.d/{host}/hosts.toml");
                sb.Append(content);
            }
        }
        if (only is null or "crio")
        {
            sb.AppendLine("# CRI-O / podman / skopeo: /etc/containers/registries.conf.d/cacheregistry.conf");
            if (https && ca is not null) sb.AppendLine($"# They trust the cache's CA when it is at /etc/containers/certs.d/{address}/ca.crt (copy {ca} there).");
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
            if (upstreams.Find("registry.k8s.io") is null)
            {
                sb.AppendLine("# kubeadm: this cache does not serve registry.k8s.io (add it under Registry:Upstreams), so there is no imageRepository to give.");
            }
            else
            {
                sb.AppendLine("# kubeadm: ClusterConfiguration (kubeadm init --config …); images come through the cache's path prefix.");
                sb.AppendLine("apiVersion: kubeadm.k8s.io/v1beta3");
                sb.AppendLine("kind: ClusterConfiguration");
                sb.AppendLine($"imageRepository: {address}/registry.k8s.io");
            }
        }
        return sb.ToString();
    }

    /// <summary>containerd's hosts.toml for every registry the cache serves (aliases too) and <c>_default</c>, by directory name.</summary>
    public static IReadOnlyList<(string Host, string Content)> HostsFiles(string address, bool https, UpstreamSet upstreams, string? ca)
    {
        var scheme = https ? "https" : "http";
        var files = new List<(string, string)>();
        foreach (var u in upstreams.All.OrderBy(u => DockerHub.Is(u.Name) ? "" : u.Name))
            // containerd names Docker Hub images docker.io whatever the user typed.
            foreach (var host in new[] { u.Name }.Concat(upstreams.AliasesOf(u)).Where(h => !DockerHub.Aliases.Contains(h)))
                files.Add((host, HostsToml($"server = \"{Origin(host)}\"", scheme, address, https ? ca : null)));
        // Any other registry: the cache answers that it does not serve it, and containerd goes to the registry.
        files.Add(("_default", HostsToml("# no server: a registry the cache does not serve is pulled from itself", scheme, address, https ? ca : null)));
        return files;
    }

    private static string HostsToml(string server, string scheme, string address, string? ca)
    {
        var sb = new StringBuilder();
        sb.AppendLine(server);
        sb.AppendLine();
        sb.AppendLine($"[host.\"{scheme}://{address}\"]");
        sb.AppendLine("  capabilities = [\"pull\", \"resolve\"]");
        sb.AppendLine("  dial_timeout = \"2s\"");
        if (ca is not null) sb.AppendLine($"  ca = \"{ca}\"");
        sb.AppendLine();
        return sb.ToString();
    }

    /// <summary>The registry's own API host, as containerd's "server" and registries.conf's "location".</summary>
    private static string Origin(string host) => host switch
    {
        _ when DockerHub.Is(host) => DockerHub.ApiUrl,
        _ => "https://" + host,
    };
}

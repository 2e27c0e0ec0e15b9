#!/usr/bin/env python3
"""Structural checks on a rendered chart (helm template output), used by hack/test-chart.sh.

    chart-assert.py SCENARIO RENDERED.yaml [KEY=VALUE...]

Prints one line per failed expectation and exits 1 when any failed. Also:

    chart-assert.py pod RENDERED.yaml NAMESPACE [drop-hardening]

prints a Pod (JSON) built from the Deployment's pod template, for a Pod Security admission dry
run; `drop-hardening` removes allowPrivilegeEscalation=false to prove the admission check bites.
"""

import json
import sys

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def objs(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = objs(docs, kind)
    return found[0] if len(found) == 1 else None


def rule_resources(rules):
    """{(apiGroup, resource): set(verbs)} of a rule list."""
    out = {}
    for r in rules or []:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                out.setdefault((g, res), set()).update(r.get("verbs", []))
    return out


class Checker:
    def __init__(self):
        self.failures = []

    def expect(self, cond, what):
        if not cond:
            self.failures.append(what)


def container(docs):
    dep = one(docs, "Deployment")
    return dep["spec"]["template"]["spec"]["containers"][0] if dep else None


def common(c, docs):
    """What every rendering must satisfy: restricted security, probes, metrics port."""
    dep = one(docs, "Deployment")
    c.expect(dep is not None, "exactly one Deployment")
    if dep is None:
        return
    pod = dep["spec"]["template"]["spec"]
    ctr = container(docs)
    psc = pod.get("securityContext", {})
    sc = ctr.get("securityContext", {})
    c.expect(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    c.expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp RuntimeDefault")
    c.expect(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    c.expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    c.expect(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    c.expect(ctr.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "liveness /healthz")
    c.expect(ctr.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "readiness /readyz")
    c.expect(ctr["args"][0] == "controller", "first arg is the controller subcommand")
    c.expect("resources" in ctr and ctr["resources"].get("requests"), "resource requests set")
    env = {e["name"] for e in ctr.get("env", [])}
    c.expect("POD_NAMESPACE" in env, "POD_NAMESPACE from the downward API")
    sa = pod.get("serviceAccountName")
    bindings = objs(docs, "ClusterRoleBinding") + objs(docs, "RoleBinding")
    for b in bindings:
        c.expect(b["subjects"][0]["name"] == sa, f"{b['kind']} {b['metadata']['name']} binds the pod's SA")
    # No rule anywhere grants more than the controller calls (see src/controller.rs; each verb
    # is proven needed with the real controller by tests/chart_rbac.rs), nor other resources.
    allowed = {
        ("bucketcors.dev", "bucketcorspolicies"): {"get", "list", "watch", "patch"},
        ("bucketcors.dev", "bucketcorspolicies/status"): {"patch"},
        ("bucketcors.dev", "s3endpoints"): {"list", "watch"},
        ("bucketcors.dev", "clusters3endpoints"): {"list", "watch"},
        ("", "secrets"): {"get", "list", "watch"},
        ("", "namespaces"): {"get"},
        ("events.k8s.io", "events"): {"create", "patch"},
        ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    }
    for role in objs(docs, "ClusterRole") + objs(docs, "Role"):
        for key, verbs in rule_resources(role.get("rules")).items():
            c.expect(key in allowed, f"{role['kind']} {role['metadata']['name']}: unexpected resource {key}")
            c.expect(verbs <= allowed.get(key, set()), f"{role['kind']} grants extra verbs on {key}: {verbs}")
            c.expect("*" not in verbs, f"wildcard verb on {key}")
        for r in role.get("rules") or []:
            if "leases" in r.get("resources", []) and set(r.get("verbs", [])) != {"create"}:
                c.expect(r.get("resourceNames") == ["bucketcors-leader"],
                         f"Lease {sorted(r['verbs'])} limited to bucketcors-leader: {r}")
    # Secrets are watched where RBAC grants them: the Secret Roles' namespaces, else everywhere.
    secret_role_nss = sorted(r["metadata"]["namespace"] for r in objs(docs, "Role")
                             if ("", "secrets") in rule_resources(r.get("rules")))
    if objs(docs, "ClusterRole") or objs(docs, "Role"):
        flags = sorted(a.split("=", 1)[1] for a in ctr["args"] if a.startswith("--secret-namespace="))
        c.expect(flags == secret_role_nss, f"--secret-namespace {flags} = Secret Role namespaces {secret_role_nss}")


def scenario_default(c, docs, opts):
    ctr = container(docs)
    args = ctr["args"]
    c.expect("--metrics-addr=0.0.0.0:8080" in args, "metrics on 0.0.0.0:8080")
    c.expect("--default-checksum=Auto" in args, "default checksum Auto")
    c.expect("--cleanup-timeout=1h" in args, "cleanup timeout 1h")
    c.expect(not any(a.startswith("--namespace") for a in args), "no --namespace by default")
    c.expect("--leader-elect" not in args, "no leader election by default")
    c.expect(one(docs, "Deployment")["spec"]["strategy"]["type"] == "Recreate", "Recreate without leader election")
    cr = one(docs, "ClusterRole")
    res = rule_resources(cr["rules"]) if cr else {}
    for key in [("bucketcors.dev", "bucketcorspolicies"), ("", "secrets"), ("", "namespaces"),
                ("bucketcors.dev", "clusters3endpoints"), ("events.k8s.io", "events")]:
        c.expect(key in res, f"ClusterRole grants {key}")
    c.expect(not objs(docs, "Role"), "no Roles by default")
    c.expect(("coordination.k8s.io", "leases") not in res, "no Lease access without leader election")
    env = {e["name"] for e in ctr.get("env", [])}
    c.expect("AWS_SECRET_ACCESS_KEY" not in env, "no static credentials by default")
    for kind in ["ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"]:
        c.expect(not objs(docs, kind), f"no {kind} by default")
    c.expect(one(docs, "Service") is not None, "metrics Service")
    c.expect(one(docs, "ServiceAccount") is not None, "ServiceAccount")


def scenario_full(c, docs, opts):
    ns, watch = opts["namespace"], opts["watch"]
    secret_nss = set(opts["secrets"].split(","))
    ctr = container(docs)
    args = ctr["args"]
    for a in [f"--namespace={watch}", "--selector=shard=a", "--leader-elect", "--concurrency=4", "--cleanup-timeout=2h 30m",
              "--default-checksum=ContentMD5", "--default-region=us-south", "--metrics-addr=0.0.0.0:9090",
              "--default-path-style"]:
        c.expect(a in args, f"arg {a}")
    c.expect("@sha256:" in ctr["image"], "image by digest")
    env = {e["name"]: e for e in ctr["env"]}
    c.expect(env.get("AWS_SECRET_ACCESS_KEY", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "cos-hmac",
             "AWS_SECRET_ACCESS_KEY from the existing Secret")
    c.expect(env.get("AWS_SESSION_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("optional") is True,
             "session token optional")
    c.expect(env.get("BUCKETCORS_LOG_FORMAT", {}).get("value") == "text", "log format env")
    c.expect("AWS_MAX_ATTEMPTS" in env, "extraEnv")
    cr = one(docs, "ClusterRole")
    res = set(rule_resources(cr["rules"]))
    c.expect(res == {("bucketcors.dev", "clusters3endpoints"), ("", "namespaces")},
             f"namespaced mode: ClusterRole holds only ClusterS3Endpoints and Namespaces, got {sorted(res)}")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): rule_resources(r["rules"]) for r in objs(docs, "Role")}
    policy_roles = [k for k, v in roles.items() if ("bucketcors.dev", "bucketcorspolicies") in v]
    c.expect([k[0] for k in policy_roles] == [watch], f"policy Role only in {watch}: {policy_roles}")
    secret_roles = {k[0] for k, v in roles.items() if ("", "secrets") in v}
    c.expect(secret_roles == secret_nss | {watch}, f"secret Roles in {secret_nss | {watch}}: {secret_roles}")
    lease_roles = [k[0] for k, v in roles.items() if ("coordination.k8s.io", "leases") in v]
    c.expect(lease_roles == [ns], f"Lease Role only in the release namespace: {lease_roles}")
    rb = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in objs(docs, "RoleBinding")}
    c.expect(rb == set(roles), "one RoleBinding per Role")
    sa = one(docs, "ServiceAccount")
    c.expect(sa and "eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {}), "IRSA annotation")
    sm = one(docs, "ServiceMonitor")
    c.expect(sm and sm["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor scrapes the metrics port")
    c.expect(sm and sm["metadata"]["labels"].get("release") == "prometheus", "ServiceMonitor labels")
    np = one(docs, "NetworkPolicy")
    c.expect(np and np["spec"]["ingress"][0]["ports"][0]["port"] == "metrics", "NetworkPolicy admits metrics only")
    c.expect(np and "Egress" in np["spec"]["policyTypes"], "NetworkPolicy egress rules")
    pdb = one(docs, "PodDisruptionBudget")
    c.expect(pdb and pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"], "PDB maxUnavailable")
    c.expect(one(docs, "Deployment")["spec"]["replicas"] == 2, "2 replicas")


def scenario_norbac(c, docs, opts):
    for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]:
        c.expect(not objs(docs, kind), f"rbac.create=false renders no {kind}")


def scenario_existing_sa(c, docs, opts):
    c.expect(not objs(docs, "ServiceAccount"), "serviceAccount.create=false renders no ServiceAccount")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    c.expect(pod["serviceAccountName"] == opts["name"], "Deployment uses the named ServiceAccount")


def scenario_secret_nss(c, docs, opts):
    cr = one(docs, "ClusterRole")
    res = rule_resources(cr["rules"])
    c.expect(("", "secrets") not in res, "secretNamespaces: no cluster-wide Secret access")
    c.expect(("bucketcors.dev", "bucketcorspolicies") in res, "policies stay cluster-wide without watchNamespace")
    nss = {r["metadata"]["namespace"] for r in objs(docs, "Role") if ("", "secrets") in rule_resources(r["rules"])}
    c.expect(nss == set(opts["secrets"].split(",")), f"secret Roles exactly in {opts['secrets']}: {nss}")


def pod_from_template(path, namespace, drop):
    dep = one(load(path), "Deployment")
    tpl = dep["spec"]["template"]
    if drop:
        del tpl["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bucketcors-psa-check", "namespace": namespace, "labels": tpl["metadata"]["labels"]},
        "spec": tpl["spec"],
    }
    print(json.dumps(pod))


SCENARIOS = {
    "default": scenario_default,
    "full": scenario_full,
    "norbac": scenario_norbac,
    "existing-sa": scenario_existing_sa,
    "secret-namespaces": scenario_secret_nss,
}


def main(argv):
    if len(argv) >= 4 and argv[1] == "pod":
        pod_from_template(argv[2], argv[3], argv[4:] == ["drop-hardening"])
        return 0
    if len(argv) < 3 or argv[1] not in SCENARIOS:
        sys.exit(__doc__)
    opts = dict(a.split("=", 1) for a in argv[3:])
    docs = load(argv[2])
    c = Checker()
    common(c, docs)
    SCENARIOS[argv[1]](c, docs, opts)
    for f in c.failures:
        print(f"  expectation failed: {f}")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

//! The Helm chart and the controller agree, proven with the real controller against the real
//! API server and moto.
//!
//! Each run renders the chart (`helm template`), applies its ServiceAccount and RBAC, makes a
//! kubeconfig with that ServiceAccount's token (`hack/sa-kubeconfig.sh`), and starts the
//! `bucketcors` binary with exactly the arguments and environment of the rendered Deployment
//! (only the metrics host becomes 127.0.0.1: test servers listen on loopback). It then checks
//! `/healthz` and `/readyz`, and that policies reach `Ready=True` with the declared rules on the
//! bucket through every path that needs an API permission: an `S3Endpoint` with a Secret, the
//! default endpoint, a `ClusterS3Endpoint` with `allowedNamespaces` and a Secret in the release
//! namespace, a `Restore` policy (fresh status read), a repeated Event (Event patch), Secret
//! changes noticed through the Secret watch, and with leader election the Lease.
//!
//! Then every verb of every rule of the ClusterRole and the Lease Role is taken away, one at a
//! time: each removal must make the run fail (a policy never gets Ready, or the controller logs
//! Forbidden). A verb whose removal breaks nothing is reported as unnecessary.
//!
//! Runs under `hack/controlplane/with-controlplane.sh hack/s3/with-s3.sh` (helm and kubectl from
//! `BUCKETCORS_HELM_BIN` and `BUCKETCORS_K8S_BIN`, never from PATH);
//! `BUCKETCORS_SKIP_CLUSTER_TESTS=1` skips.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bucketcors::api::{ChecksumMode, CorsRule};
use bucketcors::s3::{BucketRef, CorsStore};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use serde::Deserialize;
use serde_json::{Value, json};
use support::cluster::{self, TestCluster, free_port, kubectl};
use support::s3::{S3Server, Server};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/bucketcors");
/// The label (value: the run's release namespace) that shards policies between runs.
const RUN_LABEL: &str = "bucketcors-test-run";
const SA_KUBECONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/sa-kubeconfig.sh");

/// Chart values that change what the controller needs.
#[derive(Clone, Copy, Debug)]
struct Mode {
    /// `leaderElection.enabled`.
    leader: bool,
    /// `watchNamespace` = the policies' namespace, `rbac.secretNamespaces` = the release
    /// namespace, and `logFormat: text`.
    namespaced: bool,
}

/// One verb taken away: (index of the Role/ClusterRole among the rendered documents, rule
/// index, verb).
#[derive(Clone, Debug)]
struct Removal {
    doc: usize,
    rule: usize,
    verb: String,
    label: String,
}

/// The project's helm (`$BUCKETCORS_HELM_BIN/helm`); panics with instructions without it.
fn helm() -> Command {
    Command::new(
        cluster::cached_tool("BUCKETCORS_HELM_BIN", "helm").unwrap_or_else(|e| panic!("{e}")),
    )
}

fn run_cmd(cmd: &mut Command, stdin: Option<&str>) -> Result<String, String> {
    use std::io::Write;
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .map_err(|e| format!("{cmd:?}: stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `helm template` of the whole chart, as JSON documents.
fn render(release: &str, release_ns: &str, policy_ns: &str, mode: Mode, port: u16) -> Vec<Value> {
    let mut cmd = helm();
    cmd.args(["template", release, CHART, "-n", release_ns]);
    let mut set = vec![
        // Several cluster-wide controllers run at once here: each takes only its own policies.
        format!("selector={RUN_LABEL}={release_ns}"),
        format!("defaultEndpoint.url={}", cluster::moto_url()),
        "defaultEndpoint.region=us-east-1".to_owned(),
        "defaultEndpoint.pathStyle=true".to_owned(),
        format!("metrics.port={port}"),
    ];
    if mode.leader {
        set.push("leaderElection.enabled=true".to_owned());
    }
    if mode.namespaced {
        set.push(format!("watchNamespace={policy_ns}"));
        set.push(format!("rbac.secretNamespaces={{{release_ns}}}"));
        set.push("logFormat=text".to_owned());
    }
    for s in &set {
        cmd.args(["--set", s]);
    }
    let yaml = run_cmd(&mut cmd, None).unwrap_or_else(|e| panic!("helm template: {e}"));
    serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).expect("helm output is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn is_role(doc: &Value) -> bool {
    matches!(kind(doc), "ClusterRole" | "Role")
}

/// Every verb of every rule of the ClusterRole and the Roles of a rendering.
fn removals(docs: &[Value]) -> Vec<Removal> {
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate().filter(|(_, d)| is_role(d)) {
        for (r, rule) in doc["rules"].as_array().into_iter().flatten().enumerate() {
            for verb in rule["verbs"].as_array().into_iter().flatten() {
                let verb = verb.as_str().unwrap_or_default().to_owned();
                let names = rule["resourceNames"]
                    .as_array()
                    .map(|n| format!(" (resourceNames {n:?})"))
                    .unwrap_or_default();
                out.push(Removal {
                    doc: d,
                    rule: r,
                    label: format!(
                        "{} {}: {} {}{names}",
                        kind(doc),
                        doc["metadata"]["name"].as_str().unwrap_or_default(),
                        verb,
                        rule["resources"][0].as_str().unwrap_or_default(),
                    ),
                    verb,
                });
            }
        }
    }
    out
}

/// `kubectl auth can-i` arguments for a rule's first verb: proof its binding is in effect.
fn can_i_args(doc: &Value, rule: &Value, policy_ns: &str) -> Vec<String> {
    let verb = rule["verbs"][0].as_str().unwrap_or_default();
    let group = rule["apiGroups"][0].as_str().unwrap_or_default();
    let resource = rule["resources"][0].as_str().unwrap_or_default();
    let (base, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let mut what = if group.is_empty() {
        base.to_owned()
    } else {
        format!("{base}.{group}")
    };
    if let Some(name) = rule["resourceNames"][0].as_str() {
        what = format!("{what}/{name}");
    }
    let ns = doc["metadata"]["namespace"].as_str().unwrap_or(policy_ns);
    let mut args = vec![
        "auth".to_owned(),
        "can-i".to_owned(),
        verb.to_owned(),
        what,
        "-n".to_owned(),
        ns.to_owned(),
    ];
    if !sub.is_empty() {
        args.push(format!("--subresource={sub}"));
    }
    args
}

/// The controller's command line and environment, exactly as the Deployment renders them.
fn deployment_command(docs: &[Value], release_ns: &str) -> (Vec<String>, Vec<(String, String)>) {
    let dep = docs
        .iter()
        .find(|d| kind(d) == "Deployment")
        .expect("a Deployment");
    let ctr = &dep["spec"]["template"]["spec"]["containers"][0];
    let args = ctr["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            let a = a.as_str().expect("string arg");
            // The pod listens on all its interfaces; a test process listens on loopback only.
            match a.strip_prefix("--metrics-addr=0.0.0.0:") {
                Some(port) => format!("--metrics-addr=127.0.0.1:{port}"),
                None => a.to_owned(),
            }
        })
        .collect();
    let env = ctr["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let name = e["name"].as_str().expect("env name").to_owned();
            let value = match (&e["value"], &e["valueFrom"]["fieldRef"]["fieldPath"]) {
                (Value::String(v), _) => v.clone(),
                (_, Value::String(path)) if path == "metadata.namespace" => release_ns.to_owned(),
                _ => panic!("unsupported env entry in the default rendering: {e}"),
            };
            (name, value)
        })
        .collect();
    (args, env)
}

/// A kubectl as the cluster admin (the test's kubeconfig).
fn admin_kubectl(kubeconfig: &Path) -> Command {
    let mut cmd = kubectl();
    cmd.env("KUBECONFIG", kubeconfig);
    cmd
}

/// One run: namespaces, RBAC, controller process; cleaned up when dropped.
struct Run {
    policies: TestCluster,
    release: TestCluster,
    release_name: String,
    moto: S3Server,
    dir: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
    metrics: String,
    tag: String,
    mode: Mode,
    cluster_names: Vec<(String, String)>,
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let admin = |args: &[&str]| {
            let _ = admin_kubectl(&self.policies.kubeconfig)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        // Policies keep their finalizer when the controller could not remove it.
        for name in ["via-endpoint", "via-default", "via-cluster"] {
            admin(&[
                "-n",
                &self.policies.namespace,
                "patch",
                "bcp",
                name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
        }
        for (kind, name) in &self.cluster_names {
            admin(&["delete", kind, name, "--wait=false", "--ignore-not-found"]);
        }
        admin(&[
            "delete",
            "ns",
            &self.policies.namespace,
            &self.release.namespace,
            "--wait=false",
        ]);
    }
}

const ONE_RULE: &str =
    "  - {id: one, allowedOrigins: ['https://a.example'], allowedMethods: [GET]}\n";
const TWO_RULES: &str = "  - {id: uploads, allowedOrigins: ['https://shop.example'], allowedMethods: [PUT, POST], allowedHeaders: ['*']}\n  - {id: public, allowedOrigins: ['*'], allowedMethods: [GET, HEAD]}\n";

impl Run {
    /// Namespaces, chart rendering (minus `removal`), RBAC applied and in effect, controller
    /// started with the ServiceAccount's token.
    async fn start(test: &str, mode: Mode, removal: Option<&Removal>) -> Option<Self> {
        let policies = cluster::cluster(&format!("{test}p")).await?;
        let release = cluster::cluster(&format!("{test}r")).await?;
        let moto = support::s3::server(test, Server::Moto)?;
        let tag = release.namespace.clone();
        let release_name = format!("{tag}-bucketcors");
        let port = free_port();
        let mut docs = render(
            &release_name,
            &release.namespace,
            &policies.namespace,
            mode,
            port,
        );
        if let Some(r) = removal {
            let rules = docs[r.doc]["rules"].as_array_mut().expect("rules");
            let verbs = rules[r.rule]["verbs"].as_array_mut().expect("verbs");
            verbs.retain(|v| v.as_str() != Some(r.verb.as_str()));
            if verbs.is_empty() {
                rules.remove(r.rule);
            }
        }
        let rbac: Vec<Value> = docs
            .iter()
            .filter(|d| {
                matches!(
                    kind(d),
                    "ServiceAccount"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                        | "Role"
                        | "RoleBinding"
                )
            })
            .cloned()
            .collect();
        let cluster_names = rbac
            .iter()
            .filter(|d| kind(d).starts_with("Cluster"))
            .map(|d| {
                (
                    kind(d).to_ascii_lowercase(),
                    d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .chain([("clusters3endpoint".to_owned(), tag.clone())])
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("controller.log");
        let mut run = Run {
            policies,
            release,
            release_name,
            moto,
            log,
            dir,
            child: None,
            metrics: format!("127.0.0.1:{port}"),
            tag,
            mode,
            cluster_names,
        };
        let list = json!({"apiVersion": "v1", "kind": "List", "items": rbac});
        run_cmd(
            admin_kubectl(&run.policies.kubeconfig).args(["apply", "-f", "-"]),
            Some(&list.to_string()),
        )
        .unwrap_or_else(|e| panic!("apply the chart's RBAC: {e}"));

        let sa_kubeconfig = run.dir.path().join("sa.kubeconfig");
        run_cmd(
            Command::new("bash")
                .arg(SA_KUBECONFIG)
                .args([&run.release.namespace, &run.release_name])
                .arg(&sa_kubeconfig)
                .arg("20m")
                .env("KUBECONFIG", &run.policies.kubeconfig)
                .env("PATH", path_with_kubectl()),
            None,
        )
        .unwrap_or_else(|e| panic!("hack/sa-kubeconfig.sh: {e}"));
        // Bindings reach the authorizer through an informer: wait until every rule is in effect.
        for doc in rbac.iter().filter(|d| is_role(d)) {
            for rule in doc["rules"].as_array().into_iter().flatten() {
                let args = can_i_args(doc, rule, &run.policies.namespace);
                let start = Instant::now();
                while kubectl()
                    .env("KUBECONFIG", &sa_kubeconfig)
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| !s.success())
                    .unwrap_or(true)
                {
                    assert!(
                        start.elapsed() < Duration::from_secs(15),
                        "RBAC never took effect: kubectl {}",
                        args.join(" ")
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }

        let (args, env) = deployment_command(&docs, &run.release.namespace);
        let home = run.dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        // The container's environment: the Deployment's, the kubeconfig in place of the
        // in-cluster configuration, and AWS keys as `awsCredentials.existingSecret` would give.
        let child = Command::new(support::bin::bucketcors())
            .args(&args)
            .env_clear()
            .envs(env)
            .env("KUBECONFIG", &sa_kubeconfig)
            .env("HOME", &home)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&run.log).expect("log file"))
            .spawn()
            .expect("start the controller binary");
        eprintln!(
            "{test}: controller {} (logs: {})",
            args.join(" "),
            run.log.display()
        );
        run.child = Some(child);
        Some(run)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first log line that shows a missing permission.
    fn forbidden(&self) -> Option<String> {
        self.log_text()
            .lines()
            .find(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("forbidden") || l.contains("could not publish event")
            })
            .map(|l| l.chars().take(400).collect())
    }

    /// Polls `check` until it says yes; fails early when the controller logs a Forbidden or
    /// exits.
    async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl AsyncFnMut(&Self) -> bool,
    ) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(line) = self.forbidden() {
                return Err(format!("{what}: the controller logged: {line}"));
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("{what}: the controller exited ({status})"));
            }
            if check(self).await {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(format!("{what}: not within {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn http_get(&self, path: &str) -> Option<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&self.metrics).await.ok()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        );
        s.write_all(request.as_bytes()).await.ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.ok()?;
        buf.split_whitespace().nth(1)?.parse().ok()
    }

    fn kubectl_apply(&self, yaml: &str) -> Result<(), String> {
        run_cmd(
            admin_kubectl(&self.policies.kubeconfig).args(["apply", "-f", "-"]),
            Some(yaml),
        )
        .map(drop)
    }

    fn secret(&self, ns: &str, generation: u32) -> String {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: keys, namespace: {ns}, labels: {{rotation: '{generation}'}}}}\n\
             stringData: {{accessKeyId: testing, secretAccessKey: testing}}\n"
        )
    }

    fn policy(&self, name: &str, bucket: &str, extra: &str, rules: &str) -> String {
        format!(
            "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\n\
             metadata: {{name: {name}, namespace: {}, labels: {{{RUN_LABEL}: {}}}}}\n\
             spec:\n  bucket: {bucket}\n{extra}  rules:\n{rules}",
            self.policies.namespace, self.release.namespace
        )
    }

    async fn ready(&self, name: &str) -> bool {
        let Some(p) = self.policies.policies().get_opt(name).await.ok().flatten() else {
            return false;
        };
        p.status.as_ref().is_some_and(|s| {
            s.observed_generation == p.metadata.generation
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    }

    async fn live_ids(&self, bucket: &str) -> Vec<Option<String>> {
        self.moto
            .store(ChecksumMode::Auto)
            .await
            .get(&BucketRef::new(bucket))
            .await
            .map(|rules: Vec<CorsRule>| rules.into_iter().map(|r| r.id).collect())
            .unwrap_or_default()
    }

    /// How many passes of `policy` the log shows (text and JSON lines both name the policy).
    fn passes(&self, policy: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("reconciled") && l.contains(policy))
            .count()
    }

    /// Everything a controller with the chart's RBAC must manage. `Err` says what failed first.
    async fn scenario(&mut self) -> Result<(), String> {
        let secs = Duration::from_secs;
        self.until("/healthz answers 200", secs(20), async |r: &Self| {
            r.http_get("/healthz").await == Some(200)
        })
        .await?;
        self.until("/readyz answers 200", secs(30), async |r: &Self| {
            r.http_get("/readyz").await == Some(200)
        })
        .await?;
        if self.mode.leader {
            self.until("the Lease is held", secs(20), async |r: &Self| {
                Api::<Lease>::namespaced(r.release.client.clone(), &r.release.namespace)
                    .get_opt("bucketcors-leader")
                    .await
                    .ok()
                    .flatten()
                    .and_then(|l| l.spec?.holder_identity)
                    .is_some_and(|h| !h.is_empty())
            })
            .await?;
        }

        let buckets = [
            self.moto.new_bucket("rbac").await,
            self.moto.new_bucket("rbac").await,
            self.moto.new_bucket("rbac").await,
        ];
        let (pns, rns, tag) = (
            self.policies.namespace.clone(),
            self.release.namespace.clone(),
            self.tag.clone(),
        );
        let mut objects = vec![
            self.secret(&pns, 1),
            self.secret(&rns, 1),
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {pns}, labels: {{bucketcors-test-admit: {tag}}}}}\n"
            ),
            format!(
                "apiVersion: bucketcors.dev/v1alpha1\nkind: S3Endpoint\nmetadata: {{name: moto, namespace: {pns}}}\n\
                 spec: {{url: '{url}', region: us-east-1, forcePathStyle: true, credentials: {{source: Secret, secretRef: {{name: keys}}}}}}\n",
                url = self.moto.url
            ),
            format!(
                "apiVersion: bucketcors.dev/v1alpha1\nkind: ClusterS3Endpoint\nmetadata: {{name: {tag}}}\n\
                 spec: {{url: '{url}', region: us-east-1, forcePathStyle: true, \
                 credentials: {{source: Secret, secretRef: {{name: keys, namespace: {rns}}}}}, \
                 allowedNamespaces: {{matchLabels: {{bucketcors-test-admit: {tag}}}}}}}\n",
                url = self.moto.url
            ),
        ];
        objects.push(self.policy(
            "via-endpoint",
            &buckets[0],
            "  endpointRef: {kind: S3Endpoint, name: moto}\n  deletionPolicy: Restore\n",
            TWO_RULES,
        ));
        objects.push(self.policy("via-default", &buckets[1], "", ONE_RULE));
        objects.push(self.policy(
            "via-cluster",
            &buckets[2],
            &format!("  endpointRef: {{kind: ClusterS3Endpoint, name: {tag}}}\n"),
            ONE_RULE,
        ));
        self.kubectl_apply(&objects.join("---\n"))?;

        for name in ["via-endpoint", "via-default", "via-cluster"] {
            self.until(&format!("{name} Ready=True"), secs(30), async |r: &Self| {
                r.ready(name).await
            })
            .await?;
        }
        let two = vec![Some("uploads".to_owned()), Some("public".to_owned())];
        let one = vec![Some("one".to_owned())];
        for (bucket, want) in [
            (&buckets[0], &two),
            (&buckets[1], &one),
            (&buckets[2], &one),
        ] {
            let got = self.live_ids(bucket).await;
            if got != *want {
                return Err(format!("bucket {bucket} has rules {got:?}, want {want:?}"));
            }
        }
        let restore = self.policies.status("via-endpoint").await;
        if restore.and_then(|s| s.original).is_none() {
            return Err("via-endpoint (Restore): no original captured in status".into());
        }

        // A second `Applied` for the same policy continues the Event series: an Event patch.
        self.kubectl_apply(&self.policy("via-default", &buckets[1], "", TWO_RULES))?;
        self.until(
            "via-default's second Applied Event (series count 2)",
            secs(30),
            async |r: &Self| {
                let events: Api<Event> = Api::namespaced(r.policies.client.clone(), &pns);
                let Ok(list) = events.list(&Default::default()).await else {
                    return false;
                };
                list.items.iter().any(|e| {
                    e.reason.as_deref() == Some("Applied")
                        && e.regarding.as_ref().and_then(|o| o.name.as_deref())
                            == Some("via-default")
                        && e.series.as_ref().is_some_and(|s| s.count >= 2)
                })
            },
        )
        .await?;
        if self.live_ids(&buckets[1]).await != two {
            return Err("via-default: the changed rules did not reach the bucket".into());
        }

        // Changing the Secrets re-runs the policies that read them (the Secret watch).
        let before = (self.passes("via-endpoint"), self.passes("via-cluster"));
        self.kubectl_apply(&[self.secret(&pns, 2), self.secret(&rns, 2)].join("---\n"))?;
        self.until(
            "a pass of via-endpoint and via-cluster after their Secrets changed",
            secs(20),
            async |r: &Self| {
                r.passes("via-endpoint") > before.0 && r.passes("via-cluster") > before.1
            },
        )
        .await?;

        // Log format from BUCKETCORS_LOG_FORMAT (the chart sets no flag for it).
        let first = self
            .log_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let is_json = serde_json::from_str::<Value>(&first).is_ok_and(|v| v.is_object());
        if is_json == self.mode.namespaced {
            return Err(format!(
                "log format: first line {first:?} (want {})",
                if self.mode.namespaced { "text" } else { "json" }
            ));
        }

        if self.mode.leader {
            // SIGTERM: a clean exit that gives the Lease back.
            let mut child = self.child.take().expect("running");
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            let status = loop {
                if let Ok(Some(s)) = child.try_wait() {
                    break s;
                }
                if start.elapsed() > secs(15) {
                    let _ = child.kill();
                    return Err("no exit within 15s of SIGTERM".into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            if let Some(line) = self.forbidden() {
                return Err(format!("shutdown: the controller logged: {line}"));
            }
            if !status.success() {
                return Err(format!("exit after SIGTERM: {status}"));
            }
            let holder = Api::<Lease>::namespaced(self.release.client.clone(), &rns)
                .get_opt("bucketcors-leader")
                .await
                .map_err(|e| e.to_string())?
                .and_then(|l| l.spec?.holder_identity);
            if holder.as_deref().is_some_and(|h| !h.is_empty()) {
                return Err(format!("Lease still held by {holder:?} after a clean exit"));
            }
        }
        Ok(())
    }
}

/// PATH with the project's kubectl first (for hack/sa-kubeconfig.sh).
fn path_with_kubectl() -> String {
    let kubectl =
        cluster::cached_tool("BUCKETCORS_K8S_BIN", "kubectl").unwrap_or_else(|e| panic!("{e}"));
    let dir = kubectl.parent().expect("kubectl has a parent dir");
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", dir.display())
}

async fn works(test: &str, mode: Mode) {
    let Some(mut run) = Run::start(test, mode, None).await else {
        return;
    };
    if let Err(e) = run.scenario().await {
        panic!(
            "{test} ({mode:?}): {e}\ncontroller log:\n{}",
            run.log_text()
        );
    }
}

#[tokio::test]
async fn chart_rbac_is_enough_cluster_wide() {
    works(
        "rbacall",
        Mode {
            leader: false,
            namespaced: false,
        },
    )
    .await;
}

#[tokio::test]
async fn chart_rbac_is_enough_with_leader_election() {
    works(
        "rbacleader",
        Mode {
            leader: true,
            namespaced: false,
        },
    )
    .await;
}

#[tokio::test]
async fn chart_rbac_is_enough_in_a_watched_namespace() {
    works(
        "rbacns",
        Mode {
            leader: true,
            namespaced: true,
        },
    )
    .await;
}

#[tokio::test]
async fn every_rbac_verb_is_needed() {
    let mode = Mode {
        leader: true,
        namespaced: false,
    };
    if cluster::cluster("rbacprobe").await.is_none() {
        return;
    }
    let all = removals(&render("x", "x", "y", mode, 8080));
    assert!(all.len() >= 10, "too few verbs found: {all:?}");
    // A few at a time: each run is mostly waiting.
    let results: Vec<(String, Result<(), String>)> = futures::stream::iter(all.iter().enumerate())
        .map(|(i, removal)| async move {
            let mut run = Run::start(&format!("rbacminus{i}"), mode, Some(removal))
                .await
                .expect("cluster available");
            let result = run.scenario().await;
            (removal.label.clone(), result)
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let mut unneeded = Vec::new();
    for (label, result) in &results {
        match result {
            Ok(()) => unneeded.push(label.clone()),
            Err(e) => eprintln!("needed: {label}\n    without it: {e}"),
        }
    }
    assert!(
        unneeded.is_empty(),
        "the controller works without these chart RBAC verbs (remove them from the chart):\n{}",
        unneeded.join("\n")
    );
}

/// The non-default values (hack/chart-values/full.yaml) render arguments and environment the
/// controller's parser accepts: it gets past parsing and fails only at the kubeconfig.
#[test]
fn non_default_values_render_arguments_the_controller_accepts() {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/chart-values/full.yaml");
    let helm = match cluster::cached_tool("BUCKETCORS_HELM_BIN", "helm") {
        Ok(helm) => helm,
        Err(e) if std::env::var("BUCKETCORS_SKIP_CLUSTER_TESTS").as_deref() == Ok("1") => {
            println!("skipped (BUCKETCORS_SKIP_CLUSTER_TESTS=1, helm: {e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let yaml = run_cmd(
        Command::new(helm).args([
            "template",
            "bc",
            CHART,
            "-n",
            "bucketcors-system",
            "-f",
            full,
        ]),
        None,
    )
    .unwrap_or_else(|e| panic!("helm template: {e}"));
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).expect("YAML"))
        .filter(|v| !v.is_null())
        .collect();
    let ctr = &docs
        .iter()
        .find(|d| kind(d) == "Deployment")
        .expect("Deployment")["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = ctr["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string").replace("0.0.0.0", "127.0.0.1"))
        .collect();
    for flag in [
        "--namespace=team-a",
        "--secret-namespace=shared-secrets",
        "--selector=shard=a",
        "--leader-elect",
        "--default-checksum=ContentMD5",
        "--default-path-style",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }
    let mut cmd = Command::new(support::bin::bucketcors());
    cmd.args(&args).env_clear();
    for e in ctr["env"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (e["name"].as_str(), e["value"].as_str()) {
            cmd.env(name, value);
        }
    }
    let missing = tempfile::tempdir().expect("temp dir");
    let out = cmd
        .env("KUBECONFIG", missing.path().join("no-such-kubeconfig"))
        .output()
        .expect("run bucketcors");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("kubernetes client") && !stderr.contains("Usage:"),
        "the controller rejected the chart's arguments {args:?}:\n{stderr}"
    );
    // BUCKETCORS_LOG_FORMAT=text (logFormat: text): the error line is text, not JSON.
    let line = stderr
        .lines()
        .find(|l| l.contains("kubernetes client"))
        .unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(line).is_err(),
        "logFormat text, but the log is JSON: {line}"
    );
}

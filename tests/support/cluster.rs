//! The real control plane started by `hack/controlplane/with-controlplane.sh`, and the
//! `bucketcors controller` binary run against it, one process per test and namespace.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bucketcors::api::{BucketCorsPolicy, BucketCorsPolicyStatus};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};

const HOW: &str = "run the tests under `hack/controlplane/with-controlplane.sh hack/s3/with-s3.sh cargo test ...` \
     (they export BUCKETCORS_TEST_KUBECONFIG and BUCKETCORS_MOTO_URL), or set \
     BUCKETCORS_SKIP_CLUSTER_TESTS=1 to skip the controller tests";

/// A test's view of the cluster: a client and a fresh namespace.
pub struct TestCluster {
    pub kubeconfig: PathBuf,
    pub client: Client,
    pub namespace: String,
}

/// The cluster from the environment, with a new namespace for this test. `None` (after
/// printing "skipped") when BUCKETCORS_SKIP_CLUSTER_TESTS=1; panics with instructions when the
/// environment is missing otherwise.
pub async fn cluster(test: &str) -> Option<TestCluster> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let (Some(kubeconfig), Some(_)) = (
        var("BUCKETCORS_TEST_KUBECONFIG"),
        var("BUCKETCORS_MOTO_URL"),
    ) else {
        if var("BUCKETCORS_SKIP_CLUSTER_TESTS").as_deref() == Some("1") {
            println!("{test}: skipped (BUCKETCORS_SKIP_CLUSTER_TESTS=1)");
            return None;
        }
        panic!("{test}: BUCKETCORS_TEST_KUBECONFIG or BUCKETCORS_MOTO_URL is not set; {HOW}");
    };
    bucketcors::controller::install_crypto_provider();
    let kc =
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("read BUCKETCORS_TEST_KUBECONFIG");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig");
    let client = Client::try_from(config).expect("client");
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let tag: String = test
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    let namespace = format!(
        "{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    Some(TestCluster {
        kubeconfig: kubeconfig.into(),
        client,
        namespace,
    })
}

impl TestCluster {
    pub fn policies(&self) -> Api<BucketCorsPolicy> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Applies a YAML document (any kind in this test's namespace, or a ClusterS3Endpoint)
    /// with server-side apply.
    pub async fn apply(&self, yaml: &str) {
        let value: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("test YAML");
        let kind = value["kind"].as_str().expect("kind").to_owned();
        let name = value["metadata"]["name"].as_str().expect("name").to_owned();
        let ar = match kind.as_str() {
            "BucketCorsPolicy" => kube::discovery::ApiResource::erase::<BucketCorsPolicy>(&()),
            "S3Endpoint" => kube::discovery::ApiResource::erase::<bucketcors::api::S3Endpoint>(&()),
            "ClusterS3Endpoint" => {
                kube::discovery::ApiResource::erase::<bucketcors::api::ClusterS3Endpoint>(&())
            }
            "Secret" => kube::discovery::ApiResource::erase::<Secret>(&()),
            other => panic!("unsupported kind {other}"),
        };
        let api: Api<kube::api::DynamicObject> = if kind == "ClusterS3Endpoint" {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), &self.namespace, &ar)
        };
        api.patch(
            &name,
            &PatchParams::apply("tests").force(),
            &Patch::Apply(&value),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {kind}/{name}: {e}"));
    }

    /// A Secret with S3 keys.
    pub async fn s3_secret(&self, name: &str, access: &str, secret: &str) {
        self.apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{accessKeyId: {access}, secretAccessKey: {secret}}}\n"
        ))
        .await;
    }

    /// An S3Endpoint `name` for `url` using Secret `secret`.
    pub async fn s3_endpoint(&self, name: &str, url: &str, secret: &str) {
        self.apply(&format!(
            "apiVersion: bucketcors.dev/v1alpha1\nkind: S3Endpoint\nmetadata: {{name: {name}}}\n\
             spec: {{url: '{url}', region: us-east-1, forcePathStyle: true, credentials: {{source: Secret, secretRef: {{name: {secret}}}}}}}\n"
        ))
        .await;
    }

    /// A moto endpoint named `moto` with its (accepted by any) keys.
    pub async fn moto_endpoint(&self) {
        self.s3_secret("moto-keys", "testing", "testing").await;
        self.s3_endpoint("moto", &moto_url(), "moto-keys").await;
    }

    pub async fn status(&self, name: &str) -> Option<BucketCorsPolicyStatus> {
        self.policies()
            .get_opt(name)
            .await
            .expect("get policy")
            .and_then(|p| p.status)
    }

    /// (status, reason, message) of a condition.
    pub async fn condition(&self, name: &str, type_: &str) -> Option<(String, String, String)> {
        let status = self.status(name).await?;
        let c = status.conditions.into_iter().find(|c| c.type_ == type_)?;
        Some((c.status, c.reason, c.message))
    }

    /// Waits until the Ready condition has this status and reason (`*`: any reason).
    pub async fn wait_ready(&self, name: &str, status: &str, reason: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let now = self.condition(name, "Ready").await;
            if let Some((s, r, _)) = &now
                && s == status
                && (r == reason || reason == "*")
            {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{name}: Ready is {now:?} after {:?}, wanted {status}/{reason}",
                start.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Forces a pass now by changing an annotation (the documented trigger).
    pub async fn poke(&self, name: &str) {
        static N: AtomicU32 = AtomicU32::new(0);
        let patch = serde_json::json!({"metadata": {"annotations": {"bucketcors.dev/reconcile-at": format!("{}", N.fetch_add(1, Ordering::Relaxed))}}});
        self.policies()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotate");
    }

    pub async fn delete_policy(&self, name: &str) {
        self.policies()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete policy");
    }

    pub async fn wait_gone(&self, name: &str, timeout: Duration) {
        let start = Instant::now();
        while self.policies().get_opt(name).await.expect("get").is_some() {
            assert!(
                start.elapsed() < timeout,
                "{name} still exists after {timeout:?} (finalizer not released)"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Deletes a ClusterS3Endpoint (cluster-scoped objects outlive the test's namespace).
    pub async fn delete_cluster_endpoint(&self, name: &str) {
        let api: Api<bucketcors::api::ClusterS3Endpoint> = Api::all(self.client.clone());
        let _ = api.delete(name, &DeleteParams::default()).await;
    }

    /// Starts the controller binary for this namespace.
    pub fn start_controller(&self, extra: &[&str]) -> RunningController {
        self.start_controller_with(extra, &[])
    }

    /// Starts the controller binary for this namespace with extra environment. Setting
    /// `KUBECONFIG` drops the `--kubeconfig` flag (the client is then inferred), setting
    /// `BUCKETCORS_LOG_FORMAT` drops `--log-format text`.
    pub fn start_controller_with(&self, extra: &[&str], env: &[(&str, &str)]) -> RunningController {
        RunningController::start(&self.kubeconfig, &self.namespace, extra, env)
    }
}

pub fn moto_url() -> String {
    std::env::var("BUCKETCORS_MOTO_URL").expect("BUCKETCORS_MOTO_URL")
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `bucketcors controller` process, killed when dropped.
pub struct RunningController {
    child: Child,
    pub metrics_url: String,
    /// Where its standard error (the log) goes.
    pub log_path: PathBuf,
}

impl RunningController {
    fn start(
        kubeconfig: &std::path::Path,
        namespace: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("bucketcors-controller-{namespace}-{port}.log"));
        let sets = |var: &str| env.iter().any(|(k, _)| *k == var);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketcors"));
        cmd.arg("controller");
        if !sets("KUBECONFIG") {
            cmd.arg("--kubeconfig").arg(kubeconfig);
        }
        cmd.args([
            "--namespace",
            namespace,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ]);
        if !sets("BUCKETCORS_LOG_FORMAT") && !extra.contains(&"--log-format") {
            cmd.args(["--log-format", "text"]);
        }
        let child = cmd
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info,bucketcors=debug")
            .env_remove("BUCKETCORS_LOG_FORMAT")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the controller binary");
        eprintln!("controller for {namespace} logs to {}", log.display());
        Self {
            child,
            metrics_url: format!("http://127.0.0.1:{port}"),
            log_path: log,
        }
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits for the process to exit on its own: its exit status, or `None` after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// GET a path on the metrics address: (status code, body).
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.metrics_url.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.ok()?;
        let code = buf.split_whitespace().nth(1)?.parse().ok()?;
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((code, body))
    }

    /// The value of one sample (`name{labels}` exactly as rendered), 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let (_, body) = self.get("/metrics").await.expect("scrape /metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .find(|(k, _)| *k == sample)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until /readyz answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Some((200, _)) = self.get("/readyz").await {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "controller not ready after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for RunningController {
    fn drop(&mut self) {
        self.kill();
    }
}

const TOOLS_HOW: &str = "run under `hack/controlplane/with-controlplane.sh` (it sources \
     hack/controlplane/env.sh, which exports BUCKETCORS_K8S_BIN and BUCKETCORS_HELM_BIN), or \
     `source hack/controlplane/env.sh` after `hack/controlplane/install.sh`. A kubectl or helm \
     found on PATH is not used: it may be another version than the one the project pins";

/// `$VAR/NAME`: a binary from the cache the control-plane scripts fill (`hack/controlplane/`),
/// with the version they pin. An error with instructions when VAR is unset or the binary is
/// not there; never another binary of that name from PATH.
pub fn cached_tool(var: &str, name: &str) -> Result<PathBuf, String> {
    let dir = std::env::var_os(var)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| format!("{var} is not set; {TOOLS_HOW}"))?;
    let path = PathBuf::from(dir).join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{var} is set but {} does not exist; run hack/controlplane/install.sh, then {TOOLS_HOW}",
            path.display()
        ))
    }
}

/// The project's kubectl (`$BUCKETCORS_K8S_BIN/kubectl`); panics with instructions without it.
pub fn kubectl() -> Command {
    Command::new(cached_tool("BUCKETCORS_K8S_BIN", "kubectl").unwrap_or_else(|e| panic!("{e}")))
}

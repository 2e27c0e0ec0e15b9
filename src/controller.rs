//! kube-runtime wiring: watches, concurrency, requeues, leader election, shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::api::ChecksumMode;

/// Flags of `bucketcors controller`.
#[derive(Clone, Debug, Args)]
pub struct ControllerArgs {
    /// Kubeconfig file (default: `KUBECONFIG`, else in-cluster configuration).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Reconcile only policies matching this label selector (for sharding across deployments).
    #[arg(long)]
    pub selector: Option<String>,
    /// How many policies are reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Address serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Run only while holding the coordination.k8s.io Lease; exit when it is lost.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_elect_namespace: Option<String>,
    /// Base URL of the default endpoint, used by policies without `endpointRef` (default: AWS).
    #[arg(long)]
    pub default_endpoint_url: Option<String>,
    /// Signing region of the default endpoint (default: from the AWS environment).
    #[arg(long)]
    pub default_region: Option<String>,
    /// Path-style addressing for the default endpoint.
    #[arg(long)]
    pub default_path_style: bool,
    /// Integrity header mode for the default endpoint.
    #[arg(long, default_value = "Auto")]
    pub default_checksum: ChecksumMode,
}

/// Runs the operator until SIGTERM or loss of leadership.
pub fn main(_args: ControllerArgs) -> ExitCode {
    eprintln!("bucketcors controller: not implemented yet");
    ExitCode::FAILURE
}

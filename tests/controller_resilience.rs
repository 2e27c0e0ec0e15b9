//! The controller when things go wrong: wrong credentials (versitygw checks keys), an S3
//! endpoint that is down and comes back, a controller killed mid-run and restarted, leader
//! election hand-over, graceful shutdown.

mod support;

use std::time::{Duration, Instant};

use bucketcors::api::{ChecksumMode, CorsRule};
use bucketcors::s3::{BucketRef, CorsStore};
use support::cluster::{self, TestCluster};
use support::s3::{S3Server, Server};

const SECS: fn(u64) -> Duration = Duration::from_secs;

const RULES: &str = "  - {id: uploads, allowedOrigins: ['https://shop.example'], allowedMethods: [PUT, POST], allowedHeaders: ['*']}\n  - {id: public, allowedOrigins: ['*'], allowedMethods: [GET]}\n";

fn policy(name: &str, bucket: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\nmetadata: {{name: {name}}}\n\
         spec:\n  bucket: {bucket}\n  endpointRef: {{kind: S3Endpoint, name: {endpoint}}}\n{extra}  rules:\n{RULES}"
    )
}

async fn live(server: &S3Server, bucket: &str) -> Vec<CorsRule> {
    server
        .store(ChecksumMode::Auto)
        .await
        .get(&BucketRef::new(bucket))
        .await
        .expect("read bucket CORS")
}

fn declared(rules: &[CorsRule]) -> bool {
    rules.iter().map(|r| r.id.as_deref()).collect::<Vec<_>>() == [Some("uploads"), Some("public")]
}

async fn setup(test: &str, which: Server) -> Option<(TestCluster, S3Server)> {
    let c = cluster::cluster(test).await?;
    let server = support::s3::server(test, which)?;
    Some((c, server))
}

#[tokio::test]
async fn wrong_secret_stalls_with_access_denied_and_fixing_the_secret_recovers() {
    let Some((c, gw)) = setup("secret", Server::Versitygw).await else {
        return;
    };
    let bucket = gw.new_bucket("secret").await;
    c.s3_secret("gw-keys", &gw.access_key, "not-the-secret-key")
        .await;
    c.s3_endpoint("gw", &gw.url, "gw-keys").await;
    let ctl = c.start_controller(&[]);
    c.apply(&policy("web", &bucket, "gw", "")).await;
    c.wait_ready("web", "False", "AccessDenied", SECS(30)).await;
    assert_eq!(c.condition("web", "Stalled").await.unwrap().0, "True");
    assert_eq!(c.condition("web", "Reconciling").await.unwrap().0, "False");
    let status = serde_json::to_string(&c.status("web").await.unwrap()).unwrap();
    assert!(
        !status.contains("not-the-secret-key"),
        "a secret leaked into status: {status}"
    );
    assert!(live(&gw, &bucket).await.is_empty());
    let generation = c.policies().get("web").await.unwrap().metadata.generation;

    // Fix the Secret only; the Secret watch must bring the policy to Ready.
    let fixed_at = Instant::now();
    c.s3_secret("gw-keys", &gw.access_key, &gw.secret_key).await;
    c.wait_ready("web", "True", "Applied", SECS(20)).await;
    eprintln!("Ready {:?} after fixing the Secret", fixed_at.elapsed());
    assert!(declared(&live(&gw, &bucket).await));
    assert_eq!(
        c.policies().get("web").await.unwrap().metadata.generation,
        generation,
        "policy untouched"
    );
    assert_eq!(
        ctl.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
        1.0
    );
}

/// A TCP forwarder to `upstream` on a fixed port, to bring an "S3 endpoint" up and down.
async fn forward(port: u16, upstream: String) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind forwarder");
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn an_unavailable_endpoint_is_retried_with_backoff_until_it_returns() {
    let Some((c, moto)) = setup("unavailable", Server::Moto).await else {
        return;
    };
    let bucket = moto.new_bucket("unavailable").await;
    let port = cluster::free_port();
    c.s3_secret("keys", "testing", "testing").await;
    c.s3_endpoint("flaky", &format!("http://127.0.0.1:{port}"), "keys")
        .await;
    let ctl = c.start_controller(&[]);
    c.apply(&policy("web", &bucket, "flaky", "")).await;
    c.wait_ready("web", "False", "Unavailable", SECS(30)).await;
    assert_eq!(c.condition("web", "Reconciling").await.unwrap().0, "True");
    assert_eq!(c.condition("web", "Stalled").await.unwrap().0, "False");
    // Retries happen (backoff 5s, 10s, ...), each one failing.
    tokio::time::sleep(SECS(8)).await;
    let failures = ctl
        .metric("bucketcors_reconciles_total{result=\"Unavailable\"}")
        .await;
    assert!(
        (2.0..=4.0).contains(&failures),
        "{failures} failed passes in ~8s: backoff expected"
    );

    let upstream = cluster::moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let back_at = Instant::now();
    let forwarder = forward(port, upstream).await;
    c.wait_ready("web", "True", "Applied", SECS(45)).await;
    eprintln!("Ready {:?} after the endpoint came back", back_at.elapsed());
    assert!(declared(&live(&moto, &bucket).await), "nothing lost");
    forwarder.abort();
}

#[tokio::test]
async fn a_controller_killed_mid_run_converges_after_restart_without_duplicate_writes() {
    let Some((c, moto)) = setup("restart", Server::Moto).await else {
        return;
    };
    c.moto_endpoint().await;
    let mut buckets = Vec::new();
    for i in 0..8 {
        let b = moto.new_bucket(&format!("restart{i}")).await;
        c.apply(&policy(&format!("p{i}"), &b, "moto", "")).await;
        buckets.push(b);
    }
    // One pass at a time, so that the kill lands in the middle of the work.
    let mut first = c.start_controller(&["--concurrency", "1"]);
    // Kill it as soon as it has done some, but (most likely) not all, of the work.
    let start = Instant::now();
    loop {
        let done = ctl_ready_count(&c, 8).await;
        if done >= 2 {
            break;
        }
        assert!(
            start.elapsed() < SECS(30),
            "first controller made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let mut written_before = 0;
    for b in &buckets {
        if declared(&live(&moto, b).await) {
            written_before += 1;
        }
    }
    eprintln!("{written_before} of 8 buckets written before the kill");
    assert!(
        written_before < 8,
        "the kill came too late to test anything"
    );

    let second = c.start_controller(&[]);
    for i in 0..8 {
        c.wait_ready(&format!("p{i}"), "True", "*", SECS(30)).await;
    }
    // Let any stray pass finish, then count.
    tokio::time::sleep(SECS(3)).await;
    let puts = second
        .metric("bucketcors_cors_writes_total{operation=\"put\"}")
        .await;
    assert_eq!(
        puts as usize,
        8 - written_before,
        "the restarted controller rewrote buckets already in sync"
    );
    for b in &buckets {
        assert!(declared(&live(&moto, b).await));
    }
}

/// How many of p0..pN have Ready=True.
async fn ctl_ready_count(c: &TestCluster, n: usize) -> usize {
    let mut k = 0;
    for i in 0..n {
        if c.condition(&format!("p{i}"), "Ready")
            .await
            .is_some_and(|(s, _, _)| s == "True")
        {
            k += 1;
        }
    }
    k
}

#[tokio::test]
async fn leader_election_hands_over_and_sigterm_shuts_down_cleanly() {
    let Some((c, moto)) = setup("leader", Server::Moto).await else {
        return;
    };
    c.moto_endpoint().await;
    let bucket = moto.new_bucket("leader").await;
    let flags = [
        "--leader-elect",
        "--leader-elect-namespace",
        c.namespace.as_str(),
    ];
    let mut a = c.start_controller(&flags);
    a.wait_ready(SECS(20)).await;
    let mut b = c.start_controller(&flags);
    b.wait_ready(SECS(20)).await; // standing by is ready too
    c.apply(&policy("web", &bucket, "moto", "")).await;
    c.wait_ready("web", "True", "Applied", SECS(20)).await;
    let (pa, pb) = (
        a.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
        b.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
    );
    assert_eq!((pa, pb), (1.0, 0.0), "only the first (leader) works");
    assert_eq!(
        b.metric("bucketcors_reconciles_total{result=\"Applied\"}")
            .await,
        0.0
    );

    // SIGTERM: the leader stops cleanly and releases the Lease; the other takes over at once.
    let status = a
        .terminate(SECS(15))
        .expect("leader did not exit after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    moto.store(ChecksumMode::Auto)
        .await
        .delete(&BucketRef::new(&bucket))
        .await
        .unwrap();
    c.poke("web").await;
    let start = Instant::now();
    while !declared(&live(&moto, &bucket).await) {
        assert!(start.elapsed() < SECS(30), "the standby did not take over");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "standby repaired the bucket {:?} after the leader left",
        start.elapsed()
    );
    assert!(b.is_running());
}

/// How many passes ended with `result` so far.
async fn passes(ctl: &cluster::RunningController, result: &str) -> f64 {
    ctl.metric(&format!(
        "bucketcors_reconciles_total{{result=\"{result}\"}}"
    ))
    .await
}

#[tokio::test]
async fn changing_an_endpoint_re_reconciles_its_policies_without_touching_them() {
    let Some((c, moto)) = setup("endpointchange", Server::Moto).await else {
        return;
    };
    // A long interval: only the endpoint watch can bring these passes about in time.
    let hour = "  interval: 1h\n";
    let (b1, b2) = (
        moto.new_bucket("epns").await,
        moto.new_bucket("epcluster").await,
    );
    let closed = format!("http://127.0.0.1:{}", cluster::free_port());
    c.s3_secret("keys", "testing", "testing").await;
    // The namespaced endpoint first points at nothing.
    c.s3_endpoint("ep", &closed, "keys").await;
    // The cluster endpoint first reads a Secret that does not exist.
    let cluster_ep = format!("{}-moto", c.namespace);
    let cluster_endpoint = |secret: &str| {
        format!(
            "apiVersion: bucketcors.dev/v1alpha1\nkind: ClusterS3Endpoint\nmetadata: {{name: {cluster_ep}}}\n\
             spec: {{url: '{}', region: us-east-1, forcePathStyle: true, credentials: {{source: Secret, \
             secretRef: {{name: {secret}, namespace: {}}}}}}}\n",
            cluster::moto_url(),
            c.namespace
        )
    };
    c.apply(&cluster_endpoint("no-such-secret")).await;
    let ctl = c.start_controller(&[]);
    c.apply(&policy("ns", &b1, "ep", hour)).await;
    c.apply(&format!(
        "apiVersion: bucketcors.dev/v1alpha1\nkind: BucketCorsPolicy\nmetadata: {{name: cl}}\n\
         spec:\n  bucket: {b2}\n  endpointRef: {{kind: ClusterS3Endpoint, name: {cluster_ep}}}\n{hour}  rules:\n{RULES}"
    ))
    .await;
    c.wait_ready("ns", "False", "Unavailable", SECS(30)).await;
    c.wait_ready("cl", "False", "SecretNotFound", SECS(30))
        .await;
    assert_eq!(c.condition("cl", "Stalled").await.unwrap().0, "True");
    let before = |p: kube::core::ObjectMeta| (p.generation, p.annotations, p.labels);
    let ns_meta = before(c.policies().get("ns").await.unwrap().metadata);
    let cl_meta = before(c.policies().get("cl").await.unwrap().metadata);

    // S3Endpoint: the right URL, but now a Secret that does not exist -> Stalled. No backoff
    // retry is due after a Stalled pass, so the next change below is the watch's doing alone.
    c.s3_endpoint("ep", &cluster::moto_url(), "missing-keys")
        .await;
    c.wait_ready("ns", "False", "SecretNotFound", SECS(15))
        .await;
    assert_eq!(c.condition("ns", "Stalled").await.unwrap().0, "True");
    assert!(live(&moto, &b1).await.is_empty());

    // Fix both endpoints (not the policies): Ready promptly, not in an hour.
    let fixed_at = Instant::now();
    c.s3_endpoint("ep", &cluster::moto_url(), "keys").await;
    c.apply(&cluster_endpoint("keys")).await;
    c.wait_ready("ns", "True", "Applied", SECS(15)).await;
    c.wait_ready("cl", "True", "Applied", SECS(15)).await;
    eprintln!(
        "both Ready {:?} after fixing the endpoints",
        fixed_at.elapsed()
    );
    assert!(declared(&live(&moto, &b1).await));
    assert!(declared(&live(&moto, &b2).await));
    assert_eq!(
        before(c.policies().get("ns").await.unwrap().metadata),
        ns_meta,
        "policy ns untouched"
    );
    assert_eq!(
        before(c.policies().get("cl").await.unwrap().metadata),
        cl_meta,
        "policy cl untouched"
    );
    assert_eq!(passes(&ctl, "Applied").await, 2.0);

    // A further endpoint change that changes nothing for the bucket: one more pass, in sync.
    let in_sync = passes(&ctl, "InSync").await;
    c.apply(&cluster_endpoint("keys").replace(
        "forcePathStyle: true,",
        "forcePathStyle: true, rateLimit: {requestsPerSecond: 20},",
    ))
    .await;
    let start = Instant::now();
    while passes(&ctl, "InSync").await <= in_sync {
        assert!(
            start.elapsed() < SECS(15),
            "no pass after the ClusterS3Endpoint changed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        ctl.metric("bucketcors_cors_writes_total{operation=\"put\"}")
            .await,
        2.0,
        "nothing rewritten"
    );
    c.delete_cluster_endpoint(&cluster_ep).await;
}

/// The Lease's holder, once it has one.
async fn lease_holder(
    leases: &kube::Api<k8s_openapi::api::coordination::v1::Lease>,
    timeout: Duration,
) -> String {
    let start = Instant::now();
    loop {
        if let Some(holder) = leases
            .get_opt(bucketcors::controller::LEASE_NAME)
            .await
            .expect("get lease")
            .and_then(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty())
        {
            return holder;
        }
        assert!(start.elapsed() < timeout, "nobody took the lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Lease held by someone else, renewed just now.
fn intruders_lease(
    mut lease: k8s_openapi::api::coordination::v1::Lease,
) -> k8s_openapi::api::coordination::v1::Lease {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    let spec = lease.spec.get_or_insert_with(Default::default);
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(15);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    lease
}

/// Waits for the controller to exit on its own; asserts it failed, and promptly: the holder
/// looks at the Lease every 2s (src/controller/leader.rs).
fn exits_with_an_error(ctl: &mut cluster::RunningController, what: &str) -> Duration {
    let start = Instant::now();
    let status = ctl
        .wait_exit(SECS(10))
        .unwrap_or_else(|| panic!("{what}: the controller kept running\n{}", ctl.log()));
    let took = start.elapsed();
    assert!(!status.success(), "{what}: exit status {status:?}");
    assert!(
        ctl.log().contains("lost the leader lease"),
        "{what}: the log does not say why:\n{}",
        ctl.log()
    );
    eprintln!("{what}: exited ({status}) {took:?} after losing the lease");
    took
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_exits_with_an_error() {
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::{DeleteParams, PostParams};
    let Some(c) = cluster::cluster("leaselost").await else {
        return;
    };
    let leases: kube::Api<Lease> = kube::Api::namespaced(c.client.clone(), &c.namespace);
    let flags = [
        "--leader-elect",
        "--leader-elect-namespace",
        c.namespace.as_str(),
    ];

    // 1. Another holder takes the Lease over by updating it.
    let mut a = c.start_controller(&flags);
    let a_identity = lease_holder(&leases, SECS(20)).await;
    a.wait_ready(SECS(20)).await;
    // A renewal between our read and our write makes the write a conflict: read again.
    for attempt in 1.. {
        let lease = leases
            .get(bucketcors::controller::LEASE_NAME)
            .await
            .unwrap();
        match leases
            .replace(
                bucketcors::controller::LEASE_NAME,
                &PostParams::default(),
                &intruders_lease(lease),
            )
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => continue,
            Err(e) => panic!("take the lease over: {e}"),
        }
    }
    exits_with_an_error(&mut a, "taken over");
    assert_ne!(a_identity, "intruder");

    // 2. The Lease is deleted and nobody else wants it: the holder creates it again and
    //    keeps leading (leader.rs treats a missing Lease as free).
    leases
        .delete(bucketcors::controller::LEASE_NAME, &DeleteParams::default())
        .await
        .expect("delete the intruder's lease");
    let mut b = c.start_controller(&flags);
    let b_identity = lease_holder(&leases, SECS(20)).await;
    b.wait_ready(SECS(20)).await;
    leases
        .delete(bucketcors::controller::LEASE_NAME, &DeleteParams::default())
        .await
        .expect("delete the lease");
    assert_eq!(lease_holder(&leases, SECS(10)).await, b_identity);
    assert!(b.is_running(), "{}", b.log());

    // 3. The Lease is deleted and someone else creates it first: the holder exits.
    //    (b renews every 2s; should it re-create the Lease between our delete and create,
    //    our create meets AlreadyExists and we try again.)
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts <= 5,
            "could not get the lease in before the holder"
        );
        leases
            .delete(bucketcors::controller::LEASE_NAME, &DeleteParams::default())
            .await
            .expect("delete the lease");
        let fresh = Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(bucketcors::controller::LEASE_NAME.into()),
                ..Default::default()
            },
            spec: None,
        };
        match leases
            .create(&PostParams::default(), &intruders_lease(fresh))
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => panic!("create the intruder's lease: {e}"),
        }
    }
    exits_with_an_error(&mut b, "deleted and re-acquired by another");
    // The intruder's Lease was left alone.
    assert_eq!(lease_holder(&leases, SECS(1)).await, "intruder");
}

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

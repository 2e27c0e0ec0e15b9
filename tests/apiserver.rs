//! The CRDs in a real API server: the schema and CEL rules reject what S3 would reject, with our
//! messages, and `kubectl explain` reads the field docs. Runs against the control plane started by
//! `hack/controlplane/with-controlplane.sh`.

mod support;

use bucketcors::api::{BucketCorsPolicy, ClusterS3Endpoint};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::{self, TestCluster};

fn policy(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "bucketcors.dev/v1alpha1",
        "kind": "BucketCorsPolicy",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn rule() -> Value {
    json!({"allowedOrigins": ["https://shop.example.com"], "allowedMethods": ["GET"]})
}

/// Creates the object and returns the API server's refusal message (panics if it was accepted).
async fn rejected(tc: &TestCluster, object: Value) -> String {
    let api: Api<BucketCorsPolicy> = tc.policies();
    let policy: BucketCorsPolicy = match serde_json::from_value(object.clone()) {
        Ok(p) => p,
        // Objects our own types cannot even hold (an unknown method) go through the dynamic API.
        Err(_) => return rejected_raw(tc, object).await,
    };
    match api.create(&PostParams::default(), &policy).await {
        Ok(_) => panic!("the API server accepted {object}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

async fn rejected_raw(tc: &TestCluster, object: Value) -> String {
    let gvk = kube::api::GroupVersionKind::gvk("bucketcors.dev", "v1alpha1", "BucketCorsPolicy");
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, "bucketcorspolicies");
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(tc.client.clone(), &tc.namespace, &resource);
    let object: kube::api::DynamicObject = serde_json::from_value(object).unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => panic!("the API server accepted the object"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[tokio::test]
async fn the_api_server_rejects_invalid_policies_with_our_messages() {
    let Some(tc) = cluster::cluster("apiserver-rejects").await else {
        return;
    };

    let msg = rejected_raw(
        &tc,
        policy(
            "bad-method",
            json!({"bucket": "b", "rules": [{"allowedOrigins": ["*"], "allowedMethods": ["FETCH"]}]}),
        ),
    )
    .await;
    assert!(
        msg.contains("allowedMethods[0]") && msg.contains("Unsupported value"),
        "{msg}"
    );

    let many: Vec<Value> = (0..101).map(|_| rule()).collect();
    let msg = rejected(
        &tc,
        policy("too-many", json!({"bucket": "b", "rules": many})),
    )
    .await;
    assert!(
        msg.contains("spec.rules") && msg.contains("must have at most 100 items"),
        "{msg}"
    );

    let msg = rejected(
        &tc,
        policy(
            "two-wildcards",
            json!({"bucket": "b", "rules": [{"allowedOrigins": ["https://*.*.example.com"], "allowedMethods": ["GET"]}]}),
        ),
    )
    .await;
    assert!(
        msg.contains("each allowed origin may contain at most one '*' wildcard"),
        "{msg}"
    );

    let mut a = rule();
    a["id"] = json!("same");
    let msg = rejected(
        &tc,
        policy("dup-ids", json!({"bucket": "b", "rules": [a.clone(), a]})),
    )
    .await;
    assert!(
        msg.contains("rule ids must be unique within the policy"),
        "{msg}"
    );

    let msg = rejected(
        &tc,
        policy("expose-star", json!({"bucket": "b", "rules": [{"allowedOrigins": ["*"], "allowedMethods": ["GET"], "exposeHeaders": ["*"]}]})),
    )
    .await;
    assert!(msg.contains("expose headers may not contain '*'"), "{msg}");

    let msg = rejected(
        &tc,
        policy(
            "fast",
            json!({"bucket": "b", "rules": [rule()], "interval": "10s"}),
        ),
    )
    .await;
    assert!(msg.contains("interval must be at least 30s"), "{msg}");

    let long_id = "x".repeat(300);
    let mut r = rule();
    r["id"] = json!(long_id);
    let msg = rejected(&tc, policy("long-id", json!({"bucket": "b", "rules": [r]}))).await;
    assert!(
        msg.contains("spec.rules[0].id") && msg.contains("may not be more than 255"),
        "{msg}"
    );

    // And a valid policy with an empty rule list is accepted.
    let ok: BucketCorsPolicy =
        serde_json::from_value(policy("no-cors", json!({"bucket": "b", "rules": []}))).unwrap();
    tc.policies()
        .create(&PostParams::default(), &ok)
        .await
        .expect("rules: [] is valid");
}

#[tokio::test]
async fn bucket_is_immutable() {
    let Some(tc) = cluster::cluster("apiserver-immutable").await else {
        return;
    };
    let created: BucketCorsPolicy = serde_json::from_value(policy(
        "fixed",
        json!({"bucket": "first", "rules": [rule()]}),
    ))
    .unwrap();
    tc.policies()
        .create(&PostParams::default(), &created)
        .await
        .expect("create");
    let patch = json!({"spec": {"bucket": "second"}});
    let err = tc
        .policies()
        .patch("fixed", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect_err("changing spec.bucket must be refused");
    let kube::Error::Api(status) = err else {
        panic!("unexpected error: {err}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("bucket is immutable"),
        "{}",
        status.message
    );
    // Other fields stay changeable.
    let patch = json!({"spec": {"suspend": true}});
    tc.policies()
        .patch("fixed", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("suspend can change");
}

#[tokio::test]
async fn a_cluster_endpoint_needs_the_secret_namespace() {
    let Some(tc) = cluster::cluster("apiserver-endpoint").await else {
        return;
    };
    let api: Api<ClusterS3Endpoint> = Api::all(tc.client.clone());
    let endpoint: ClusterS3Endpoint = serde_json::from_value(json!({
        "apiVersion": "bucketcors.dev/v1alpha1",
        "kind": "ClusterS3Endpoint",
        "metadata": {"name": format!("{}-no-ns", tc.namespace)},
        "spec": {"region": "us-east-1", "credentials": {"source": "Secret", "secretRef": {"name": "keys"}}},
    }))
    .unwrap();
    let err = api
        .create(&PostParams::default(), &endpoint)
        .await
        .expect_err("must be refused");
    let kube::Error::Api(status) = err else {
        panic!("unexpected error: {err}")
    };
    assert!(
        status
            .message
            .contains("credentials.secretRef.namespace is required on a ClusterS3Endpoint"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn kubectl_explain_reads_the_field_docs() {
    let Some(_tc) = cluster::cluster("apiserver-explain").await else {
        return;
    };
    let out = cluster::kubectl()
        .args(["explain", "bucketcorspolicy.spec.rules"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // kubectl wraps lines to the terminal; compare with whitespace folded.
    let text = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "S3 answers each request with the first rule that matches",
        "allowedOrigins",
        "at most one `*` wildcard",
        "GET, PUT, HEAD, POST or DELETE",
    ] {
        assert!(
            text.contains(needle),
            "`kubectl explain` lacks {needle:?}:\n{text}"
        );
    }
}

//! The Argo CD health check (`deploy/argocd/health.lua`) run by a real Lua 5.1 interpreter (the
//! language of Argo CD's gopher-lua) against status fixtures: real objects written by the
//! controller (captured by tests/status_fixtures.rs with `BUCKETCORS_UPDATE_FIXTURES=1`).
//!
//! Needs `lua5.1` with lua-cjson (`hack/install-lua.sh`); `BUCKETCORS_SKIP_LUA_TESTS=1` skips.

mod support;

use serde_json::{Value, json};
use support::argocd::{EXPECTED, fixtures_dir, health, health_of, lua};

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn every_fixture_has_an_expectation() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "add the fixture's expected health to EXPECTED"
    );
}

#[test]
fn fixtures_follow_the_status_contract() {
    for (name, _) in EXPECTED {
        let value = fixture(name);
        let policy: bucketcors::api::BucketCorsPolicy = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{name}.json is not a BucketCorsPolicy: {e}"));
        let Some(status) = policy.status else {
            continue;
        };
        assert!(
            status.observed_generation.is_some(),
            "{name}: observedGeneration"
        );
        for c in &status.conditions {
            assert!(
                ["Ready", "Reconciling", "Stalled"].contains(&c.type_.as_str()),
                "{name}: condition type {}",
                c.type_
            );
            assert!(
                c.observed_generation.is_some(),
                "{name}: {} observedGeneration",
                c.type_
            );
            assert!(!c.reason.is_empty(), "{name}: {} reason", c.type_);
        }
        let is_true = |t: &str| {
            status
                .conditions
                .iter()
                .any(|c| c.type_ == t && c.status == "True")
        };
        assert!(
            !(is_true("Reconciling") && is_true("Stalled")),
            "{name}: Reconciling and Stalled are never both true"
        );
    }
}

#[test]
fn fixtures_map_to_the_expected_health() {
    let Some(lua) = lua() else { return };
    let mut wrong = Vec::new();
    for (name, want) in EXPECTED {
        let (status, message) = health(lua, &fixtures_dir().join(format!("{name}.json")));
        assert!(!message.is_empty(), "{name}: empty message");
        if status != *want {
            wrong.push(format!("{name}: got {status} ({message}), want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn message_carries_reason_and_message() {
    let Some(lua) = lua() else { return };
    let (_, message) = health(lua, &fixtures_dir().join("stalled-accessdenied.json"));
    assert!(message.starts_with("AccessDenied: "), "{message}");
    let (_, message) = health(lua, &fixtures_dir().join("drift-reported.json"));
    assert!(
        message.contains("allowedOrigins"),
        "the diff must reach Argo CD: {message}"
    );
}

#[test]
fn derived_cases() {
    let Some(lua) = lua() else { return };
    let set_condition = |obj: &mut Value, kind: &str, status: &str, reason: &str| {
        let conditions = obj["status"]["conditions"].as_array_mut().unwrap();
        let c = conditions.iter_mut().find(|c| c["type"] == kind).unwrap();
        c["status"] = json!(status);
        c["reason"] = json!(reason);
    };

    // Ready reason Suspended is enough, even before spec.suspend reaches this copy.
    let mut obj = fixture("ready-insync");
    set_condition(&mut obj, "Ready", "Unknown", "Suspended");
    assert_eq!(health_of(lua, &obj).0, "Suspended");

    // spec.suspend wins over everything, even without status.
    let mut obj = fixture("no-status");
    obj["spec"]["suspend"] = json!(true);
    assert_eq!(health_of(lua, &obj).0, "Suspended");

    // A Ready condition older than the spec is not trusted, even if the top level is current.
    let mut obj = fixture("ready-insync");
    obj["metadata"]["generation"] = json!(2);
    obj["status"]["observedGeneration"] = json!(2);
    assert_eq!(health_of(lua, &obj).0, "Progressing");

    // The matching generation makes the same object Healthy.
    let mut obj = fixture("stale-generation");
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"].clone();
    assert_eq!(health_of(lua, &obj).0, "Healthy");

    // Stalled beats a Ready=True left over (defensive; the controller never writes both).
    let mut obj = fixture("ready-insync");
    set_condition(&mut obj, "Stalled", "True", "Conflict");
    assert_eq!(health_of(lua, &obj).0, "Degraded");

    // Ready=Unknown without Reconciling is still waiting.
    let mut obj = fixture("ready-insync");
    set_condition(&mut obj, "Ready", "Unknown", "Progressing");
    assert_eq!(health_of(lua, &obj).0, "Progressing");

    // An empty condition list, or no Ready condition, is waiting too.
    let mut obj = fixture("ready-insync");
    obj["status"]["conditions"] = json!([]);
    assert_eq!(health_of(lua, &obj).0, "Progressing");
    let mut obj = fixture("ready-insync");
    obj["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["type"] != "Ready");
    assert_eq!(health_of(lua, &obj).0, "Progressing");

    // Each Stalled reason of the contract is Degraded; each Reconciling reason Progressing.
    for reason in [
        "InvalidSpec",
        "AccessDenied",
        "NoSuchBucket",
        "Conflict",
        "CorsNotSupported",
        "EndpointNotFound",
        "SecretNotFound",
        "Forbidden",
    ] {
        let mut obj = fixture("stalled-accessdenied");
        set_condition(&mut obj, "Ready", "False", reason);
        set_condition(&mut obj, "Stalled", "True", reason);
        assert_eq!(health_of(lua, &obj).0, "Degraded", "{reason}");
    }
    for reason in ["Throttled", "Unavailable", "Progressing"] {
        let mut obj = fixture("reconciling-unavailable");
        set_condition(&mut obj, "Ready", "False", reason);
        set_condition(&mut obj, "Reconciling", "True", reason);
        assert_eq!(health_of(lua, &obj).0, "Progressing", "{reason}");
    }
}

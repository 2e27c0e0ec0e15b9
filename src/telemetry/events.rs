//! Kubernetes Events about policies, published through kube-runtime's recorder.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

use crate::api::BucketCorsPolicy;
use crate::reconcile::EventNote;

/// Publishes [`EventNote`]s. Failures are logged, never fatal: an Event is a courtesy.
#[derive(Clone)]
pub struct EventPublisher {
    recorder: Recorder,
}

impl EventPublisher {
    /// A publisher reporting as `bucketcors` (instance: the pod name, when known).
    pub fn new(client: Client) -> Self {
        let reporter = Reporter {
            controller: "bucketcors".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes each note about `policy`.
    pub async fn publish(&self, policy: &BucketCorsPolicy, notes: &[EventNote]) {
        let reference: ObjectReference = policy.object_ref(&());
        for note in notes {
            let event = Event {
                type_: if note.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: note.reason.clone(),
                // The API server limits notes to 1 kB.
                note: Some(truncate(&note.note, 1000)),
                action: note.action.to_owned(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, reason = %note.reason, "could not publish event");
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

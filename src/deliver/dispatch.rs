//! Sending what the outbox holds: an accepted message leaves the outbox and
//! is recorded in the mail log; a failed one stays, with its next try
//! scheduled by the backoff.

use std::path::Path;

use chrono::Utc;

use super::outbox::{self, Queued};
use super::policy::{self, MailLog};
use super::smtp::{self, Connection};
use crate::config::diagnostic::Diagnostic;

/// Which queued messages to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every one (an explicit `run --send`).
    All,
    /// Those whose backoff has run out (the watcher's timer).
    Due,
}

/// The outcome of one pass over the outbox.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Messages the server accepted.
    pub sent: Vec<Queued>,
    /// Messages that stay queued, with why.
    pub failed: Vec<(Queued, String)>,
    /// Problems reading or writing the outbox and the mail log.
    pub problems: Vec<Diagnostic>,
}

/// Sends the queued messages `which` selects, one after another.
pub async fn deliver(root: &Path, connection: &Connection, which: Which) -> Delivery {
    let mut delivery = Delivery::default();
    let queued = match outbox::pending(root) {
        Ok(q) => q,
        Err(e) => {
            delivery
                .problems
                .push(Diagnostic::in_file(".warroom/outbox", "outbox", e.to_string()));
            return delivery;
        }
    };
    let now = Utc::now();
    for message in queued
        .into_iter()
        .filter(|m| which == Which::All || m.next_attempt <= now)
    {
        let sent = {
            let (connection, message) = (connection.clone(), message.clone());
            tokio::task::spawn_blocking(move || {
                smtp::send(
                    &connection,
                    &message.from,
                    &message.recipients,
                    message.message.as_bytes(),
                )
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        };
        let object = format!("report {}", message.report);
        match sent {
            Ok(()) => {
                let log = MailLog {
                    fingerprint: Some(message.fingerprint.clone()),
                    firing: message.firing.clone(),
                };
                let recorded = crate::state::write_json(&policy::log_path(root, &message.report), &log)
                    .and_then(|()| outbox::delivered(root, &message.report));
                if let Err(e) = recorded {
                    delivery.problems.push(Diagnostic::in_file(
                        ".warroom/mail",
                        object,
                        format!("mail sent, but: {e}"),
                    ));
                }
                delivery.sent.push(message);
            }
            Err(error) => {
                if let Err(e) = outbox::failed(root, &message, &error) {
                    delivery
                        .problems
                        .push(Diagnostic::in_file(".warroom/outbox", object, e.to_string()));
                }
                delivery.failed.push((message, error));
            }
        }
    }
    delivery
}

/// When the first still-queued message is due again, if any.
pub fn next_due(root: &Path) -> Option<chrono::DateTime<Utc>> {
    outbox::pending(root).ok()?.iter().map(|m| m.next_attempt).min()
}

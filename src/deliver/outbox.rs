//! The outbox: `.warroom/outbox/<report>.json`, one pending message per
//! report. A message is written here before it is sent and removed only
//! when the server accepts it; a failed send stays, with its attempt count
//! and the time of the next try (exponential backoff), across restarts. A
//! newer message for the same report replaces an unsent older one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::model::Severity;

/// A message waiting to be accepted by the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Queued {
    /// The report it belongs to.
    pub report: String,
    /// Its Message-ID.
    pub message_id: String,
    /// The results fingerprint it carries.
    pub fingerprint: String,
    /// The firing instances it reports.
    pub firing: BTreeSet<(String, Severity)>,
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients (to, cc and bcc).
    pub recipients: Vec<String>,
    /// The whole message as sent (RFC 5322, 7-bit).
    pub message: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the next automatic retry is due.
    pub next_attempt: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

fn path(root: &Path, report: &str) -> PathBuf {
    root.join(".warroom").join("outbox").join(format!("{report}.json"))
}

/// Queues `message`, replacing an unsent older one of the same report; the
/// same message queued again keeps its attempt count.
pub fn enqueue(root: &Path, mut message: Queued) -> std::io::Result<()> {
    let file = path(root, &message.report);
    if let Some(old) = crate::state::read_json::<Queued>(&file)?
        && old.message_id == message.message_id
    {
        message.attempts = old.attempts;
        message.next_attempt = old.next_attempt;
        message.last_error = old.last_error;
    }
    crate::state::write_json(&file, &message)
}

/// Every queued message, oldest report name first.
pub fn pending(root: &Path) -> std::io::Result<Vec<Queued>> {
    let dir = root.join(".warroom").join("outbox");
    let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    names.sort();
    names
        .iter()
        .filter_map(|p| crate::state::read_json::<Queued>(p).transpose())
        .collect()
}

/// Records a failed attempt and schedules the next one.
pub fn failed(root: &Path, message: &Queued, error: &str) -> std::io::Result<()> {
    let mut message = message.clone();
    message.attempts += 1;
    message.next_attempt = Utc::now() + backoff(message.attempts);
    message.last_error = Some(error.to_string());
    crate::state::write_json(&path(root, &message.report), &message)
}

/// Removes an accepted message.
pub fn delivered(root: &Path, report: &str) -> std::io::Result<()> {
    match std::fs::remove_file(path(root, report)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// 30 s after the first failure, doubling up to an hour.
pub fn backoff(attempts: u32) -> Duration {
    let seconds = 30u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(10));
    Duration::from_secs(seconds.min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(id: &str) -> Queued {
        Queued {
            report: "r".into(),
            message_id: id.into(),
            fingerprint: "f".into(),
            firing: BTreeSet::new(),
            from: "a@b.c".into(),
            recipients: vec!["d@e.f".into()],
            message: "Subject: x\\r\\n\\r\\nbody".into(),
            attempts: 0,
            next_attempt: Utc::now(),
            last_error: None,
        }
    }

    #[test]
    fn attempts_survive_requeueing_the_same_message_but_not_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        enqueue(dir.path(), queued("<1>")).unwrap();
        failed(dir.path(), &pending(dir.path()).unwrap()[0], "down").unwrap();
        enqueue(dir.path(), queued("<1>")).unwrap();
        assert_eq!(pending(dir.path()).unwrap()[0].attempts, 1);
        enqueue(dir.path(), queued("<2>")).unwrap();
        let now = pending(dir.path()).unwrap();
        assert_eq!((now.len(), now[0].attempts, now[0].message_id.as_str()), (1, 0, "<2>"));
        delivered(dir.path(), "r").unwrap();
        assert!(pending(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(3), Duration::from_secs(120));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }
}

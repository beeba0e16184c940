//! Whether a run mails its report (SPEC §2.8), from what was last mailed.
//! Only a mail the server accepted updates the log, so a plain `run` or a
//! dry run never uses up a transition.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fingerprint::firing;
use crate::config::model::{EmailConfig, SendPolicy, Severity};
use crate::results::Results;

/// What was in the last accepted mail of a report.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailLog {
    /// Its results fingerprint.
    pub fingerprint: Option<String>,
    /// Its firing instances.
    pub firing: BTreeSet<(String, Severity)>,
}

/// Where a report's mail log is kept.
pub fn log_path(root: &Path, report: &str) -> PathBuf {
    root.join(".warroom").join("mail").join(format!("{report}.json"))
}

/// Reads a mail log; none yet is an empty log.
pub fn load(path: &Path) -> std::io::Result<MailLog> {
    crate::state::read_json(path).map(Option::unwrap_or_default)
}

/// Whether `results` (with `fingerprint`) should be mailed under `email`.
pub fn should_send(email: &EmailConfig, log: &MailLog, fingerprint: &str, results: &Results) -> bool {
    let updated = log.fingerprint.as_deref() != Some(fingerprint);
    let now = firing(results, email.min_severity);
    match email.send {
        SendPolicy::Always => true,
        SendPolicy::OnUpdate => updated,
        SendPolicy::OnAlert => updated && !now.is_empty(),
        SendPolicy::OnChange => {
            let before: BTreeSet<(String, Severity)> = log
                .firing
                .iter()
                .filter(|(_, s)| *s >= email.min_severity)
                .cloned()
                .collect();
            now != before
        }
    }
}

//! Alert instance states across runs, kept in `.warroom/alerts/<report>.json`.
//!
//! An instance that fires is `new` unless it was active in the last run
//! (then `ongoing`); an active instance that no longer fires is `resolved`,
//! listed once and then forgotten; one whose condition touched a missing
//! value keeps its state. A run whose `as_of` is earlier than the stored one
//! (a backfill) reports against the stored states but does not change them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::evaluate::Outcome;
use crate::config::model::Severity;

/// The stored states of one report.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertStore {
    /// The as-of date of the run that wrote this.
    pub as_of: Option<NaiveDate>,
    /// Active instances by key.
    pub active: BTreeMap<String, StoredInstance>,
}

/// An active instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredInstance {
    /// The alert id.
    pub alert: String,
    /// Its severity when it last fired.
    pub severity: Severity,
    /// The as-of date it started firing.
    pub since: NaiveDate,
}

/// The state of an instance in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Fires now, did not before.
    New,
    /// Fired before and still does.
    Ongoing,
    /// Fired before, no longer does.
    Resolved,
}

/// One entry of results.json's `alerts`.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEntry {
    /// The alert id.
    pub id: String,
    /// The instance key.
    pub key: String,
    /// The row's `by` values.
    pub labels: BTreeMap<String, String>,
    /// How urgent.
    pub severity: Severity,
    /// new, ongoing or resolved.
    pub state: State,
    /// The rendered message (empty when resolved).
    pub message: String,
    /// The KPI, breakdown or funnel it looks at.
    #[serde(flatten)]
    pub subject: BTreeMap<String, String>,
}

/// The path of a report's store.
pub fn store_path(root: &Path, report: &str) -> PathBuf {
    root.join(".warroom").join("alerts").join(format!("{report}.json"))
}

/// Reads a store; a missing file is an empty store.
pub fn load(path: &Path) -> std::io::Result<AlertStore> {
    crate::state::read_json(path).map(Option::unwrap_or_default)
}

/// Writes a store atomically.
pub fn save(path: &Path, store: &AlertStore) -> std::io::Result<()> {
    crate::state::write_json(path, store)
}

/// The run's alert entries and the store to keep (`None`: leave it as is).
pub fn transition(store: &AlertStore, outcome: &Outcome, as_of: NaiveDate) -> (Vec<AlertEntry>, Option<AlertStore>) {
    let backfill = store.as_of.is_some_and(|stored| as_of < stored);
    let mut next = AlertStore {
        as_of: Some(as_of),
        active: BTreeMap::new(),
    };
    let mut entries = Vec::new();
    for firing in &outcome.firing {
        let previous = store.active.get(&firing.key);
        let state = if previous.is_some() { State::Ongoing } else { State::New };
        next.active.insert(
            firing.key.clone(),
            StoredInstance {
                alert: firing.id.clone(),
                severity: firing.severity,
                since: previous.map_or(as_of, |p| p.since),
            },
        );
        entries.push(AlertEntry {
            id: firing.id.clone(),
            key: firing.key.clone(),
            labels: firing.labels.clone(),
            severity: firing.severity,
            state,
            message: firing.message.clone(),
            subject: BTreeMap::from([(firing.subject.0.to_string(), firing.subject.1.clone())]),
        });
    }
    for (key, instance) in &store.active {
        if next.active.contains_key(key) {
            continue;
        }
        if outcome.unknown.contains(key) {
            next.active.insert(key.clone(), instance.clone());
            continue;
        }
        entries.push(AlertEntry {
            id: instance.alert.clone(),
            key: key.clone(),
            labels: labels_of(key),
            severity: instance.severity,
            state: State::Resolved,
            message: String::new(),
            subject: BTreeMap::new(),
        });
    }
    (entries, (!backfill).then_some(next))
}

/// The labels written in a key `id[a=1,b=2]`.
fn labels_of(key: &str) -> BTreeMap<String, String> {
    let Some(inner) = key.split_once('[').and_then(|(_, rest)| rest.strip_suffix(']')) else {
        return BTreeMap::new();
    };
    inner
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::evaluate::Firing;

    fn fire(key: &str) -> Firing {
        Firing {
            id: key.split('[').next().unwrap().into(),
            key: key.into(),
            labels: labels_of(key),
            severity: Severity::Warning,
            message: "m".into(),
            subject: ("kpi", "k".into()),
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn new_ongoing_resolved_and_backfill() {
        let one = Outcome {
            firing: vec![fire("a[owner=Amy]")],
            unknown: vec![],
        };
        let (entries, store) = transition(&AlertStore::default(), &one, d("2026-11-01"));
        assert_eq!(entries[0].state, State::New);
        let store = store.unwrap();
        let (entries, again) = transition(&store, &one, d("2026-11-02"));
        assert_eq!(entries[0].state, State::Ongoing);
        let again = again.unwrap();
        assert_eq!(again.active["a[owner=Amy]"].since, d("2026-11-01"));
        // A backfill reports but keeps the store.
        let (_, kept) = transition(&again, &Outcome::default(), d("2026-10-01"));
        assert!(kept.is_none());
        // Touching a missing value keeps the state.
        let unknown = Outcome {
            firing: vec![],
            unknown: vec!["a[owner=Amy]".into()],
        };
        let (entries, same) = transition(&again, &unknown, d("2026-11-03"));
        assert!(entries.is_empty());
        assert!(same.unwrap().active.contains_key("a[owner=Amy]"));
        let (entries, gone) = transition(&again, &Outcome::default(), d("2026-11-03"));
        assert_eq!(entries[0].state, State::Resolved);
        assert_eq!(entries[0].labels["owner"], "Amy");
        assert!(gone.unwrap().active.is_empty());
    }
}

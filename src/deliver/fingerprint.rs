//! The results fingerprint (SPEC §2.8): the canonical results.json with
//! numbers rounded to 10 significant digits, without alert states, plus
//! the set of firing instances. Equal fingerprints mean nothing a reader
//! would notice has changed.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::alerts::state::State;
use crate::config::model::Severity;
use crate::results::Results;

/// The firing instances (new or ongoing) at or above `min`, by key.
pub fn firing(results: &Results, min: Severity) -> BTreeSet<(String, Severity)> {
    results
        .alerts
        .iter()
        .filter(|a| a.state != State::Resolved && a.severity >= min)
        .map(|a| (a.key.clone(), a.severity))
        .collect()
}

/// A hex SHA-256 of the canonical results.
pub fn fingerprint(results: &Results) -> String {
    let mut json = serde_json::to_value(results).expect("results serialize");
    let instances: Vec<Json> = firing(results, Severity::Info)
        .into_iter()
        .map(|(key, severity)| serde_json::json!([key, severity]))
        .collect();
    json["alerts"] = Json::Array(instances);
    round(&mut json);
    let canonical = serde_json::to_vec(&json).expect("JSON serializes");
    Sha256::digest(&canonical).iter().map(|b| format!("{b:02x}")).collect()
}

/// Rounds every number to 10 significant digits, so float noise between
/// runs does not count as a change.
fn round(value: &mut Json) {
    match value {
        Json::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| *f != 0.0 && f.is_finite()) {
                let digits = 10 - 1 - f.abs().log10().floor() as i32;
                let factor = 10f64.powi(digits);
                let rounded = if digits >= 0 {
                    (f * factor).round() / factor
                } else {
                    (f / 10f64.powi(-digits)).round() * 10f64.powi(-digits)
                };
                *value = serde_json::json!(rounded);
            }
        }
        Json::Array(items) => items.iter_mut().for_each(round),
        Json::Object(map) => map.values_mut().for_each(round),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_hides_float_noise_only() {
        let mut a = serde_json::json!({"x": 0.1 + 0.2, "y": [123456789012.0]});
        let mut b = serde_json::json!({"x": 0.3, "y": [123456789013.0]});
        round(&mut a);
        round(&mut b);
        assert_eq!(a, b);
        let mut c = serde_json::json!({"x": 0.3000001});
        round(&mut c);
        assert_ne!(c, serde_json::json!({"x": 0.3}));
    }
}

//! What templates see: results.json, with alerts ordered by urgency and
//! each breakdown row marked `_flag` with the severity of the most urgent
//! alert firing on it.

use serde_json::{Value as Json, json};

use crate::alerts::evaluate::{by_columns, label_of};
use crate::alerts::state::State;
use crate::results::Results;

/// The render context of `results`.
pub fn render_context(results: &Results) -> Json {
    let mut context = serde_json::to_value(results).expect("results serialize");
    let mut alerts = results.alerts.clone();
    alerts.sort_by_key(|a| (a.state == State::Resolved, std::cmp::Reverse(a.severity)));
    context["alerts"] = serde_json::to_value(&alerts).expect("alerts serialize");
    if let Some(breakdowns) = context["breakdowns"].as_object_mut() {
        for (id, breakdown) in breakdowns.iter_mut() {
            let by = by_columns(breakdown);
            let Some(rows) = breakdown["rows"].as_array_mut() else {
                continue;
            };
            for row in rows {
                let flag = alerts
                    .iter()
                    .filter(|a| a.state != State::Resolved && a.subject.get("breakdown") == Some(id))
                    .filter(|a| {
                        by.iter()
                            .all(|column| a.labels.get(column) == Some(&label_of(&row[column])))
                    })
                    .map(|a| a.severity)
                    .max();
                if let Some(severity) = flag {
                    row["_flag"] = json!(severity);
                }
            }
        }
    }
    context
}

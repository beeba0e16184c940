//! Evaluating alert rules against a report's results.
//!
//! A KPI alert sees the KPI's fields; a breakdown alert sees one row at a
//! time (its `by` columns, each KPI's fields by id, and `overall`); a funnel
//! alert sees `stages` by id. Nulls are left out of the context, so with
//! strict undefined any use of them fails: the alert neither fires nor
//! resolves, and its instance keeps its previous state.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value as Json};

use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Alert, AlertSubject, ROW_FIELDS, Report, Severity, SqlText};
use crate::engine::sql::sql_location;
use crate::results::Results;

/// The fields of a KPI result an alert can use.
pub const KPI_FIELDS: [&str; 21] = [
    "label",
    "format",
    "unit",
    "decimals",
    "better",
    "period",
    "value",
    "previous",
    "delta",
    "delta_pct",
    "year_ago",
    "yoy_pct",
    "target",
    "attainment",
    "projected",
    "projected_attainment",
    "status",
    "pace",
    "zscore",
    "trend",
    "explain",
];

/// The fields of a funnel stage.
pub const STAGE_FIELDS: [&str; 6] = ["id", "label", "count", "value", "step_rate", "overall_rate"];

/// One alert instance whose condition held.
#[derive(Debug, Clone)]
pub struct Firing {
    /// The alert id.
    pub id: String,
    /// `id` or `id[col=value,…]`.
    pub key: String,
    /// The row's `by` values.
    pub labels: BTreeMap<String, String>,
    /// How urgent.
    pub severity: Severity,
    /// The rendered message.
    pub message: String,
    /// `("kpi", id)`, `("breakdown", id)` or `("funnel", id)`.
    pub subject: (&'static str, String),
}

/// What one evaluation of all alerts found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Instances whose condition held.
    pub firing: Vec<Firing>,
    /// Keys of instances whose condition touched a missing value.
    pub unknown: Vec<String>,
}

/// The names an alert's expressions can see.
pub struct Scope {
    kind: Kind,
}

enum Kind {
    Kpi,
    Breakdown { by: Vec<String>, kpis: Vec<String> },
    Funnel { stages: Vec<String> },
}

impl Scope {
    /// The scope of `alert` in `report`.
    pub fn of(alert: &Alert, report: &Report) -> Self {
        let kind = match &alert.subject {
            AlertSubject::Kpi(_) => Kind::Kpi,
            AlertSubject::Breakdown(id) => {
                let b = &report.breakdowns[id];
                Kind::Breakdown {
                    by: b.by.clone(),
                    kpis: b.kpis.clone(),
                }
            }
            AlertSubject::Funnel(id) => Kind::Funnel {
                stages: report.funnels[id].stages.iter().map(|s| s.id.clone()).collect(),
            },
        };
        Self { kind }
    }

    /// Whether a dotted name (`win_rate.value`, `stages.won.count`) is visible.
    pub fn check_name(&self, name: &str) -> Result<(), String> {
        let parts: Vec<&str> = name.split('.').collect();
        let unknown = |what: &str, word: &str, known: &[&str]| {
            let hint = crate::config::diagnostic::suggestion(word, known.iter().copied());
            Err(format!(
                "unknown {what} `{word}`{hint}; this alert sees {}",
                known.join(", ")
            ))
        };
        match &self.kind {
            Kind::Kpi => {
                if !KPI_FIELDS.contains(&parts[0]) {
                    return unknown("name", parts[0], &KPI_FIELDS);
                }
            }
            Kind::Breakdown { by, kpis } => {
                let mut roots: Vec<&str> = by.iter().map(String::as_str).collect();
                roots.extend(kpis.iter().map(String::as_str));
                roots.push("overall");
                if !roots.contains(&parts[0]) {
                    return unknown("name", parts[0], &roots);
                }
                let kpi_ids: Vec<&str> = kpis.iter().map(String::as_str).collect();
                if kpi_ids.contains(&parts[0])
                    && let Some(field) = parts.get(1)
                    && !ROW_FIELDS.contains(field)
                {
                    return unknown("field", field, &ROW_FIELDS);
                }
                if parts[0] == "overall" {
                    if let Some(kpi) = parts.get(1)
                        && !kpi_ids.contains(kpi)
                    {
                        return unknown("KPI", kpi, &kpi_ids);
                    }
                    if let Some(field) = parts.get(2)
                        && !KPI_FIELDS.contains(field)
                    {
                        return unknown("field", field, &KPI_FIELDS);
                    }
                }
            }
            Kind::Funnel { stages } => {
                if parts[0] != "stages" {
                    return unknown("name", parts[0], &["stages"]);
                }
                let ids: Vec<&str> = stages.iter().map(String::as_str).collect();
                if let Some(stage) = parts.get(1)
                    && !ids.contains(stage)
                {
                    return unknown("stage", stage, &ids);
                }
                if let Some(field) = parts.get(2)
                    && !STAGE_FIELDS.contains(field)
                {
                    return unknown("field", field, &STAGE_FIELDS);
                }
            }
        }
        Ok(())
    }

    /// Renders a message with every visible name set, to find unknown
    /// filters and names before any data is read.
    pub fn sample_render(&self, env: &Environment, message: &str) -> Result<String, minijinja::Error> {
        let kpi: BTreeMap<&str, Value> = KPI_FIELDS.iter().map(|f| (*f, Value::from(1.0))).collect();
        let row_kpi: BTreeMap<&str, Value> = ROW_FIELDS.iter().map(|f| (*f, Value::from(1.0))).collect();
        let context: BTreeMap<String, Value> = match &self.kind {
            Kind::Kpi => kpi.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            Kind::Breakdown { by, kpis } => {
                let mut ctx: BTreeMap<String, Value> = by.iter().map(|b| (b.clone(), Value::from("x"))).collect();
                for k in kpis {
                    ctx.insert(k.clone(), Value::from(Serde(&row_kpi)));
                }
                let overall: BTreeMap<&String, Value> = kpis.iter().map(|k| (k, Value::from(Serde(&kpi)))).collect();
                ctx.insert("overall".into(), Value::from(Serde(&overall)));
                ctx
            }
            Kind::Funnel { stages } => {
                let stage: BTreeMap<&str, Value> = STAGE_FIELDS.iter().map(|f| (*f, Value::from(1.0))).collect();
                let all: BTreeMap<&String, Value> = stages.iter().map(|s| (s, Value::from(Serde(&stage)))).collect();
                BTreeMap::from([("stages".to_string(), Value::from(Serde(&all)))])
            }
        };
        let template = env.template_from_str(message)?;
        for name in template.undeclared_variables(true) {
            if let Err(message) = self.check_name(&name) {
                return Err(minijinja::Error::new(minijinja::ErrorKind::UndefinedError, message));
            }
        }
        template.render(context)
    }
}

/// A diagnostic for a minijinja error in `text`, at its line when known.
pub fn template_error(error: &minijinja::Error, text: &SqlText) -> Diagnostic {
    let location = match error.line() {
        Some(line) if text.text.contains('\n') => sql_location(text, line as u64, 1, 1),
        _ => text.location.clone(),
    };
    let detail = error
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| error.kind().to_string());
    let message = match error.kind() {
        minijinja::ErrorKind::SyntaxError => format!("syntax error: {detail}"),
        minijinja::ErrorKind::UnknownFilter => format!("unknown filter: {detail}"),
        _ => detail,
    };
    Diagnostic::at(&location, &text.object, message)
}

/// JSON with nulls left out of objects, so they are undefined to minijinja.
fn without_nulls(value: &Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The environment messages render in: missing values print through the
/// number filters as `—` rather than failing the message.
fn message_environment() -> Environment<'static> {
    let mut env = super::expr::environment();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env
}

/// One instance to evaluate: key, labels, context, and what it looks at.
type Instance = (String, BTreeMap<String, String>, Json, (&'static str, String));

/// Evaluates every alert of `report` against `results`.
pub fn evaluate(report: &Report, results: &Results) -> Outcome {
    let env = super::expr::environment();
    let messages = message_environment();
    let json = serde_json::to_value(results).expect("results serialize");
    let mut outcome = Outcome::default();
    for alert in report.alerts.values() {
        let Ok(expression) = env.compile_expression(&alert.when.text) else {
            continue;
        };
        let contexts: Vec<Instance> = match &alert.subject {
            AlertSubject::Kpi(id) => vec![(
                alert.id.clone(),
                BTreeMap::new(),
                json["kpis"][id].clone(),
                ("kpi", id.clone()),
            )],
            AlertSubject::Funnel(id) => {
                let stages: Map<String, Json> = json["funnels"][id]["stages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| (s["id"].as_str().unwrap_or_default().to_string(), s.clone()))
                    .collect();
                let mut ctx = Map::new();
                ctx.insert("stages".into(), Json::Object(stages));
                vec![(
                    alert.id.clone(),
                    BTreeMap::new(),
                    Json::Object(ctx),
                    ("funnel", id.clone()),
                )]
            }
            AlertSubject::Breakdown(id) => {
                let breakdown = &json["breakdowns"][id];
                let by = by_columns(breakdown);
                breakdown["rows"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|row| {
                        let mut ctx = row.as_object().cloned().unwrap_or_default();
                        ctx.insert("overall".into(), breakdown["overall"].clone());
                        let labels: BTreeMap<String, String> =
                            by.iter().map(|b| (b.clone(), label_of(&row[b]))).collect();
                        let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let key = format!("{}[{}]", alert.id, parts.join(","));
                        (key, labels, Json::Object(ctx), ("breakdown", id.clone()))
                    })
                    .collect()
            }
        };
        for (key, labels, context, subject) in contexts {
            let context = Value::from(Serde(without_nulls(&context)));
            match expression.eval(context.clone()) {
                Ok(v) if v.is_true() => {
                    let message = match &alert.message {
                        Some(m) => messages
                            .render_str(&m.text, context.clone())
                            .unwrap_or_else(|e| format!("{} ({e})", alert.id)),
                        None => alert.id.clone(),
                    };
                    outcome.firing.push(Firing {
                        id: alert.id.clone(),
                        key,
                        labels,
                        severity: alert.severity,
                        message,
                        subject,
                    });
                }
                Ok(_) => {}
                Err(_) => outcome.unknown.push(key),
            }
        }
    }
    outcome
}

/// The `by` columns of a breakdown in results.json.
pub fn by_columns(breakdown: &Json) -> Vec<String> {
    breakdown["by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str().map(String::from))
        .collect()
}

/// How a `by` value shows in an instance key and its labels (`NULL` for null).
pub fn label_of(value: &Json) -> String {
    match value {
        Json::Null => "NULL".into(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

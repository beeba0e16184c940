//! Template filters shared by reports and alert messages.
//!
//! * `currency`, `percent`, `number`, `integer`, `days`, `hours` — a plain
//!   number, with an optional unit and number of decimals;
//! * `delta` — a change with its sign and arrow (`▲ +12.3%`);
//! * `kpi_value(field)` — a KPI's field in the KPI's own format, unit and
//!   decimals (`{{ kpi | kpi_value('target') }}`);
//! * `kpi_format(kpi)` — any number in a KPI's format, unit and decimals;
//! * `delta_class(field)` / `change_class(kpi)` — `good`, `bad` or `flat`
//!   for a KPI's change, by its `better`;
//! * `date(format)` — an ISO date in a strftime format.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use crate::config::model::ValueFormat;
use crate::format::{MISSING, Style, format_delta, format_value};

/// Adds every filter to `env`.
pub fn register(env: &mut Environment<'static>) {
    for (name, format) in [
        ("number", ValueFormat::Number),
        ("integer", ValueFormat::Integer),
        ("percent", ValueFormat::Percent),
        ("currency", ValueFormat::Currency),
        ("days", ValueFormat::Days),
        ("hours", ValueFormat::Hours),
    ] {
        env.add_filter(name, move |v: Value, unit: Option<String>, decimals: Option<u32>| {
            format_value(number(&v), Style::new(format).unit(unit.as_deref()).decimals(decimals))
        });
    }
    env.add_filter("delta", |v: Value, format: Option<String>| {
        let format = format
            .as_deref()
            .and_then(ValueFormat::parse)
            .unwrap_or(ValueFormat::Percent);
        format_delta(number(&v), Style::new(format))
    });
    env.add_filter("kpi_value", kpi_value);
    env.add_filter("kpi_format", |value: Value, kpi: Value| -> Result<String, Error> {
        Ok(format_value(number(&value), kpi_style(&kpi)?.as_style()))
    });
    env.add_filter("delta_class", |kpi: Value, field: Option<String>| {
        change_class(attr(&kpi, field.as_deref().unwrap_or("delta")), kpi)
    });
    env.add_filter("change_class", change_class);
    env.add_filter("date", date);
}

/// A number from a template value; undefined, none and non-numbers are missing.
pub fn number(v: &Value) -> Option<f64> {
    if v.is_undefined() || v.is_none() {
        return None;
    }
    f64::try_from(v.clone()).ok().filter(|n| n.is_finite())
}

fn attr(kpi: &Value, name: &str) -> Value {
    kpi.get_attr(name).unwrap_or(Value::UNDEFINED)
}

/// A KPI's field formatted the KPI's way. Percent changes (`delta_pct`,
/// `yoy_pct`, `attainment`, `pace`) are always percentages.
fn kpi_value(kpi: Value, field: Option<String>) -> Result<String, Error> {
    let field = field.unwrap_or_else(|| "value".into());
    let value = number(&attr(&kpi, &field));
    let style = kpi_style(&kpi)?;
    Ok(match field.as_str() {
        "delta_pct" | "yoy_pct" => format_delta(value, Style::new(ValueFormat::Percent)),
        "attainment" | "projected_attainment" | "pace" | "share" => {
            format_value(value, Style::new(ValueFormat::Percent).decimals(Some(0)))
        }
        "delta" => format_delta(value, style.as_style()),
        "zscore" => value.map_or(MISSING.into(), |z| format!("{z:+.1}σ")),
        _ => format_value(value, style.as_style()),
    })
}

/// The owned parts of a KPI's display style.
#[derive(Clone)]
struct KpiStyle {
    format: ValueFormat,
    unit: Option<String>,
    decimals: Option<u32>,
}

impl KpiStyle {
    fn as_style(&self) -> Style<'_> {
        Style::new(self.format)
            .unit(self.unit.as_deref())
            .decimals(self.decimals)
    }
}

fn kpi_style(kpi: &Value) -> Result<KpiStyle, Error> {
    let format = attr(kpi, "format");
    let format = format.as_str().and_then(ValueFormat::parse).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "kpi_value needs a KPI (an object with a `format`)",
        )
    })?;
    let unit = attr(kpi, "unit");
    let decimals = number(&attr(kpi, "decimals")).map(|d| d as u32);
    Ok(KpiStyle {
        format,
        unit: unit.as_str().map(String::from),
        decimals,
    })
}

/// `good` when a change of `kpi` goes the way its `better` wants, `bad`
/// the other way, `flat` without a change.
fn change_class(change: Value, kpi: Value) -> String {
    let change = number(&change);
    let lower_is_better = attr(&kpi, "better").as_str() == Some("lower");
    match change {
        Some(c) if c > 0.0 && !lower_is_better || c < 0.0 && lower_is_better => "good".into(),
        Some(c) if c != 0.0 => "bad".into(),
        _ => "flat".into(),
    }
}

fn date(value: Value, format: Option<String>) -> Result<String, Error> {
    let text = value
        .as_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "date expects an ISO date"))?;
    let parsed: chrono::NaiveDate = text
        .get(..10)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("`{text}` is not an ISO date")))?;
    Ok(parsed.format(format.as_deref().unwrap_or("%Y-%m-%d")).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn kpi_aware_filters() {
        let mut env = Environment::new();
        register(&mut env);
        let kpi = context! { format => "currency", unit => "NT$", better => "lower", value => 1500.4, delta => 120.0, delta_pct => 0.087, target => () };
        let out = env
            .render_str(
                "{{ k | kpi_value }}|{{ k | kpi_value('target') }}|{{ k | kpi_value('delta_pct') }}|{{ k | delta_class }}|{{ d | date('%m/%d') }}",
                context! { k => kpi, d => "2026-11-30" },
            )
            .unwrap();
        assert_eq!(out, "NT$ 1,500|—|▲ +8.7%|bad|11/30");
    }
}

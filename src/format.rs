//! Number formatting shared by results, templates and alert messages:
//! `currency`, `percent`, `number`, `integer`, `days`, `hours` and `delta`,
//! honouring a KPI's `unit` and `decimals`. Missing values show as `—`.

use crate::config::model::ValueFormat;

/// What a missing value looks like.
pub const MISSING: &str = "—";

/// How to show one number.
#[derive(Debug, Clone, Copy)]
pub struct Style<'a> {
    /// The kind of number.
    pub format: ValueFormat,
    /// A unit: a prefix for currency, a suffix otherwise.
    pub unit: Option<&'a str>,
    /// Digits after the decimal point; default by format.
    pub decimals: Option<u32>,
}

impl<'a> Style<'a> {
    /// A style with the format's default unit and decimals.
    pub fn new(format: ValueFormat) -> Self {
        Self {
            format,
            unit: None,
            decimals: None,
        }
    }

    /// With a unit.
    pub fn unit(mut self, unit: Option<&'a str>) -> Self {
        self.unit = unit;
        self
    }

    /// With a number of decimals.
    pub fn decimals(mut self, decimals: Option<u32>) -> Self {
        self.decimals = decimals;
        self
    }
}

/// Formats a value: `NT$ 1,234,567`, `87.3%`, `1,234.5`, `12.5 days`, `3.2 h`.
pub fn format_value(value: Option<f64>, style: Style) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return MISSING.to_string();
    };
    match style.format {
        ValueFormat::Number => {
            let default = if v.abs() >= 100.0 {
                0
            } else if v.abs() >= 1.0 {
                1
            } else {
                2
            };
            suffixed(&grouped(v, style.decimals.unwrap_or(default)), style.unit)
        }
        ValueFormat::Integer => suffixed(&grouped(v, style.decimals.unwrap_or(0)), style.unit),
        ValueFormat::Percent => format!("{}%", grouped(v * 100.0, style.decimals.unwrap_or(1))),
        ValueFormat::Currency => {
            let digits = grouped(v.abs(), style.decimals.unwrap_or(0));
            let sign = if v < 0.0 && digits.chars().any(|c| c.is_ascii_digit() && c != '0') {
                "-"
            } else {
                ""
            };
            match style.unit {
                Some(unit) => format!("{sign}{unit} {digits}"),
                None => format!("{sign}{digits}"),
            }
        }
        ValueFormat::Days => suffixed(
            &grouped(v, style.decimals.unwrap_or(1)),
            Some(style.unit.unwrap_or("days")),
        ),
        ValueFormat::Hours => suffixed(
            &grouped(v, style.decimals.unwrap_or(1)),
            Some(style.unit.unwrap_or("h")),
        ),
    }
}

/// A change with its sign and an arrow: `▲ +12.3%`, `▼ -1,200`, `→ 0.0%`.
/// `delta_pct` values use the percent format; others the KPI's.
pub fn format_delta(value: Option<f64>, style: Style) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return MISSING.to_string();
    };
    let text = format_value(Some(v.abs()), style);
    let zero = !text.chars().any(|c| c.is_ascii_digit() && c != '0');
    if zero {
        format!("→ {text}")
    } else if v > 0.0 {
        format!("▲ +{text}")
    } else {
        format!("▼ -{text}")
    }
}

fn suffixed(number: &str, unit: Option<&str>) -> String {
    match unit {
        Some(unit) => format!("{number} {unit}"),
        None => number.to_string(),
    }
}

/// `1234567.891` with 2 decimals → `1,234,567.89`.
fn grouped(value: f64, decimals: u32) -> String {
    let text = format!("{:.*}", decimals as usize, value);
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => ("-", rest),
        Some(rest) => ("", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = unsigned.split_once('.').map_or((unsigned, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_kind() {
        let s = Style::new;
        assert_eq!(
            format_value(Some(16_500_000.4), s(ValueFormat::Currency).unit(Some("NT$"))),
            "NT$ 16,500,000"
        );
        assert_eq!(
            format_value(Some(-1234.5), s(ValueFormat::Currency).decimals(Some(2))),
            "-1,234.50"
        );
        assert_eq!(format_value(Some(0.8734), s(ValueFormat::Percent)), "87.3%");
        assert_eq!(
            format_value(Some(0.8734), s(ValueFormat::Percent).decimals(Some(0))),
            "87%"
        );
        assert_eq!(format_value(Some(1234.56), s(ValueFormat::Number)), "1,235");
        assert_eq!(format_value(Some(4.56), s(ValueFormat::Number)), "4.6");
        assert_eq!(
            format_value(Some(0.5), s(ValueFormat::Number).unit(Some("台"))),
            "0.50 台"
        );
        assert_eq!(format_value(Some(999_999.5), s(ValueFormat::Integer)), "1,000,000");
        assert_eq!(format_value(Some(12.46), s(ValueFormat::Days)), "12.5 days");
        assert_eq!(
            format_value(Some(3.0), s(ValueFormat::Hours).unit(Some("小時"))),
            "3.0 小時"
        );
        assert_eq!(format_value(None, s(ValueFormat::Number)), "—");
        assert_eq!(format_value(Some(-0.001), s(ValueFormat::Integer)), "0");
    }

    #[test]
    fn deltas_carry_sign_and_arrow() {
        let pct = Style::new(ValueFormat::Percent);
        assert_eq!(format_delta(Some(0.123), pct), "▲ +12.3%");
        assert_eq!(format_delta(Some(-0.05), pct), "▼ -5.0%");
        assert_eq!(format_delta(Some(0.0001), pct), "→ 0.0%");
        assert_eq!(
            format_delta(Some(-1200.0), Style::new(ValueFormat::Currency).unit(Some("NT$"))),
            "▼ -NT$ 1,200"
        );
        assert_eq!(format_delta(None, pct), "—");
    }
}

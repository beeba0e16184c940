//! Charts drawn as SVG without any text in them (so no fonts are needed
//! when they are rasterized for mail): trend sparklines.

use minijinja::value::Value;

use super::filters::number;

/// Colours of the war room.
pub const LINE: &str = "#2563eb";
/// Target lines.
pub const TARGET: &str = "#9ca3af";

/// A sparkline of `values` with a dashed `targets` line, `width`×`height`
/// pixels; missing values break the line.
pub fn sparkline_svg(values: &[Option<f64>], targets: &[Option<f64>], width: f64, height: f64) -> String {
    let known: Vec<f64> = values.iter().chain(targets).flatten().copied().collect();
    let (min, max) = known.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(*v), hi.max(*v))
    });
    let pad = 3.0;
    let x = |i: usize| {
        if values.len() <= 1 {
            width / 2.0
        } else {
            pad + i as f64 * (width - 2.0 * pad) / (values.len() - 1) as f64
        }
    };
    let y = |v: f64| {
        if max > min {
            height - pad - (v - min) / (max - min) * (height - 2.0 * pad)
        } else {
            height / 2.0
        }
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">"#
    );
    for (series, style) in [
        (
            targets,
            format!(r#"stroke="{TARGET}" stroke-width="1.5" stroke-dasharray="3 2""#),
        ),
        (values, format!(r#"stroke="{LINE}" stroke-width="2""#)),
    ] {
        for run in runs(series) {
            let points: Vec<String> = run.iter().map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v))).collect();
            svg.push_str(&format!(
                r#"<polyline fill="none" {style} points="{}"/>"#,
                points.join(" ")
            ));
        }
    }
    if let Some((i, v)) = values.iter().enumerate().rev().find_map(|(i, v)| v.map(|v| (i, v))) {
        svg.push_str(&format!(
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{LINE}"/>"#,
            x(i),
            y(v)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Unbroken runs of known values, with their positions.
fn runs(series: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
    for (i, v) in series.iter().enumerate() {
        match v {
            Some(v) => out.last_mut().expect("non-empty").push((i, *v)),
            None if out.last().is_some_and(|r| !r.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Template function `sparkline(trend)`: an inline SVG of a KPI's trend.
pub fn sparkline_function(trend: Value) -> Result<Value, minijinja::Error> {
    let mut values = Vec::new();
    let mut targets = Vec::new();
    for point in trend.try_iter()? {
        values.push(number(&point.get_attr("value").unwrap_or(Value::UNDEFINED)));
        targets.push(number(&point.get_attr("target").unwrap_or(Value::UNDEFINED)));
    }
    Ok(Value::from_safe_string(sparkline_svg(&values, &targets, 120.0, 32.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_the_line_and_the_last_value_is_marked() {
        let svg = sparkline_svg(&[Some(1.0), None, Some(2.0), Some(3.0)], &[None; 4], 100.0, 20.0);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(r#"<circle cx="97.0" cy="3.0""#), "{svg}");
        assert!(!svg.contains("<text"));
    }
}

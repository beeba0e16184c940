//! The fields of one KPI (SPEC §2.3) from its per-period values.

use crate::config::model::Better;
use crate::period::Period;
use crate::results::Status;

/// What the field rules need to know about a KPI.
#[derive(Debug, Clone, Copy)]
pub struct FieldRules {
    /// Good direction.
    pub better: Better,
    /// Attainment from which a miss is a warning.
    pub warn_at: Option<f64>,
    /// Additive KPIs are judged on their projection while the period runs.
    pub additive: bool,
}

/// The numbers computed for the current period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fields {
    /// Value up to as_of.
    pub value: Option<f64>,
    /// Whole previous period.
    pub previous: Option<f64>,
    /// value − previous.
    pub delta: Option<f64>,
    /// delta / |previous|.
    pub delta_pct: Option<f64>,
    /// Same period a year earlier.
    pub year_ago: Option<f64>,
    /// Change against year_ago.
    pub yoy_pct: Option<f64>,
    /// Current target.
    pub target: Option<f64>,
    /// value against target.
    pub attainment: Option<f64>,
    /// End-of-period estimate.
    pub projected: Option<f64>,
    /// projected against target.
    pub projected_attainment: Option<f64>,
    /// good / warn / bad / none.
    pub status: Status,
    /// Share of the period passed.
    pub pace: f64,
    /// Standard score against earlier trend values.
    pub zscore: Option<f64>,
}

/// Per-period inputs of [`compute`].
pub struct PeriodValues<'a> {
    /// The trend periods, oldest first; the last is the current one.
    pub trend: &'a [Period],
    /// Values for `trend`, same order.
    pub values: &'a [Option<f64>],
    /// Value of the previous period.
    pub previous: Option<f64>,
    /// Value of the year-ago period.
    pub year_ago: Option<f64>,
    /// Target of the current period.
    pub target: Option<f64>,
    /// End-of-period estimate, computed by the caller.
    pub projected: Option<f64>,
    /// Share of the current period passed.
    pub pace: f64,
}

/// `value − base` over `|base|`; null when the base is 0 or missing.
pub fn change_pct(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (value, base) {
        (Some(v), Some(b)) if b != 0.0 => Some((v - b) / b.abs()),
        _ => None,
    }
}

/// value / target (higher) or target / value (lower); null when the target
/// is ≤ 0, or the value ≤ 0 with lower.
pub fn attainment(value: Option<f64>, target: Option<f64>, better: Better) -> Option<f64> {
    let (v, t) = (value?, target?);
    if t <= 0.0 {
        return None;
    }
    match better {
        Better::Higher => Some(v / t),
        Better::Lower if v <= 0.0 => None,
        Better::Lower => Some(t / v),
    }
}

/// good when the target is met, warn when attainment ≥ warn_at, else bad.
pub fn status(value: Option<f64>, target: Option<f64>, rules: &FieldRules) -> Status {
    let (Some(v), Some(t)) = (value, target) else {
        return Status::None;
    };
    let met = match rules.better {
        Better::Higher => v >= t,
        Better::Lower => v <= t,
    };
    if met {
        return Status::Good;
    }
    match (attainment(value, target, rules.better), rules.warn_at) {
        (Some(a), Some(w)) if a >= w => Status::Warn,
        _ => Status::Bad,
    }
}

/// x against the mean and sample standard deviation of `history`'s
/// non-null values; null with fewer than 3 or no spread.
pub fn zscore(x: Option<f64>, history: &[Option<f64>]) -> Option<f64> {
    let x = x?;
    let known: Vec<f64> = history.iter().flatten().copied().collect();
    if known.len() < 3 {
        return None;
    }
    let n = known.len() as f64;
    let mean = known.iter().sum::<f64>() / n;
    let variance = known.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = variance.sqrt();
    (sd > 0.0 && sd.is_finite()).then(|| (x - mean) / sd)
}

/// Every field of §2.3 but the trend and explain.
pub fn compute(input: &PeriodValues, rules: &FieldRules) -> Fields {
    let value = input.values.last().copied().flatten();
    let earlier = &input.values[..input.values.len().saturating_sub(1)];
    let running = rules.additive && input.pace < 1.0;
    let judged = if running { input.projected } else { value };
    Fields {
        value,
        previous: input.previous,
        delta: value.zip(input.previous).map(|(v, p)| v - p),
        delta_pct: change_pct(value, input.previous),
        year_ago: input.year_ago,
        yoy_pct: change_pct(value, input.year_ago),
        target: input.target,
        attainment: attainment(value, input.target, rules.better),
        projected: input.projected,
        projected_attainment: attainment(input.projected, input.target, rules.better),
        status: status(judged, input.target, rules),
        pace: input.pace,
        zscore: zscore(judged, earlier),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIGHER: FieldRules = FieldRules {
        better: Better::Higher,
        warn_at: Some(0.9),
        additive: true,
    };
    const LOWER: FieldRules = FieldRules {
        better: Better::Lower,
        warn_at: None,
        additive: true,
    };

    #[test]
    fn status_follows_target_and_warn_at() {
        assert_eq!(status(Some(100.0), Some(100.0), &HIGHER), Status::Good);
        assert_eq!(status(Some(95.0), Some(100.0), &HIGHER), Status::Warn);
        assert_eq!(status(Some(80.0), Some(100.0), &HIGHER), Status::Bad);
        assert_eq!(status(None, Some(100.0), &HIGHER), Status::None);
        // Lower is better, a zero value: target met, attainment undefined.
        assert_eq!(status(Some(0.0), Some(3.0), &LOWER), Status::Good);
        assert_eq!(attainment(Some(0.0), Some(3.0), Better::Lower), None);
        assert_eq!(attainment(Some(4.0), Some(3.0), Better::Lower), Some(0.75));
        assert_eq!(attainment(Some(4.0), Some(0.0), Better::Higher), None);
    }

    #[test]
    fn zscore_uses_sample_deviation_of_earlier_values() {
        // mean 2, sample sd 1 → (5 − 2) / 1 = 3
        assert_eq!(zscore(Some(5.0), &[Some(1.0), None, Some(2.0), Some(3.0)]), Some(3.0));
        assert_eq!(zscore(Some(5.0), &[Some(1.0), Some(2.0)]), None);
        assert_eq!(zscore(Some(5.0), &[Some(2.0), Some(2.0), Some(2.0)]), None);
    }

    #[test]
    fn change_is_null_against_zero() {
        assert_eq!(change_pct(Some(5.0), Some(0.0)), None);
        assert_eq!(change_pct(Some(5.0), Some(-10.0)), Some(1.5));
    }
}

//! Splitting a KPI's change into its drivers' shares with the log-mean
//! Divisia index (LMDI): `contribution_i = L(V1, V0) · ln(d_i1 / d_i0)`,
//! `L(a, b) = (a − b) / (ln a − ln b)`, `L(a, a) = a`. The shares add up to
//! `V1 − V0` exactly when `V = Π d_i`.

use crate::results::Contribution;

/// The logarithmic mean; `None` unless both are positive.
fn log_mean(a: f64, b: f64) -> Option<f64> {
    if a <= 0.0 || b <= 0.0 {
        return None;
    }
    if (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()) {
        return Some(a);
    }
    Some((a - b) / (a.ln() - b.ln()))
}

/// Each driver's share of `v1 − v0`, given `(kpi, base, value)` per driver.
/// Any non-positive or missing number makes every share null.
pub fn lmdi(v1: Option<f64>, v0: Option<f64>, drivers: &[(String, Option<f64>, Option<f64>)]) -> Vec<Contribution> {
    let weight = match (v1, v0) {
        (Some(a), Some(b)) => log_mean(a, b),
        _ => None,
    };
    let all_positive = drivers
        .iter()
        .all(|(_, base, value)| base.is_some_and(|b| b > 0.0) && value.is_some_and(|v| v > 0.0));
    drivers
        .iter()
        .map(|(kpi, base, value)| Contribution {
            kpi: kpi.clone(),
            base: *base,
            value: *value,
            contribution: match (weight, all_positive, base, value) {
                (Some(w), true, Some(b), Some(v)) => Some(w * (v / b).ln()),
                _ => None,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_change() {
        // 10 deals × 50% × 100 = 500 → 12 deals × 40% × 125 = 600
        let drivers = [
            ("deals".to_string(), Some(10.0), Some(12.0)),
            ("win_rate".to_string(), Some(0.5), Some(0.4)),
            ("avg_deal".to_string(), Some(100.0), Some(125.0)),
        ];
        let shares = lmdi(Some(600.0), Some(500.0), &drivers);
        let total: f64 = shares.iter().map(|c| c.contribution.unwrap()).sum();
        assert!((total - 100.0).abs() < 1e-9);
        let l = 100.0 / (600f64.ln() - 500f64.ln());
        assert!((shares[0].contribution.unwrap() - l * 1.2f64.ln()).abs() < 1e-9);
        assert!(shares[1].contribution.unwrap() < 0.0);
    }

    #[test]
    fn equal_values_use_the_value_as_weight_and_non_positive_gives_null() {
        let drivers = [
            ("a".to_string(), Some(2.0), Some(4.0)),
            ("b".to_string(), Some(2.0), Some(1.0)),
        ];
        let shares = lmdi(Some(4.0), Some(4.0), &drivers);
        assert!((shares[0].contribution.unwrap() - 4.0 * 2f64.ln()).abs() < 1e-12);
        let drivers = [("a".to_string(), Some(0.0), Some(4.0))];
        assert_eq!(lmdi(Some(4.0), Some(0.0), &drivers)[0].contribution, None);
    }
}

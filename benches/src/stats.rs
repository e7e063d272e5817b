//! Small statistics over repeated runs (checkout-wait percentiles come from the
//! hdrhistogram in each run's [`RunResult`](crate::RunResult)).

/// Median, minimum and maximum of a set of repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all zero for an empty slice.
    ///
    /// ```
    /// let s = tarn_benches::stats::Spread::of(&[3.0, 1.0, 2.0, 10.0]);
    /// assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
    /// ```
    pub fn of(values: &[f64]) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// The coefficient of variation (standard deviation / mean) of `values`; 0 when the mean is 0.
///
/// ```
/// let cv = tarn_benches::stats::cv(&[10, 10, 10]);
/// assert_eq!(cv, 0.0);
/// assert!((tarn_benches::stats::cv(&[5, 15]) - 0.5).abs() < 1e-12);
/// ```
pub fn cv(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    if mean == 0.0 {
        return 0.0;
    }
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt() / mean
}

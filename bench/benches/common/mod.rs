//! What the criterion measurements of `benches/` share.

/// Short runs for the measurements that compare a library with what it
/// replaced: steady enough for costs that differ by whole factors.
pub fn short_criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

//! Empty: the detector reads and writes JSON with `serde_json`. This file
//! remains only because `tests/perf_regression.rs` still declares
//! `mod json;` with this path; delete both together.

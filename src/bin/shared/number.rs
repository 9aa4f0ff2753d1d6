//! Number formatting shared by the two tool binaries.
//!
//! Kept by hand: one 15-line function; `num-format` would be a dependency
//! (with its locale tables) for a single comma-grouping call.

/// `x` rounded, with thousands separators: 12346.7 -> "12,347".
pub fn group(x: f64) -> String {
    let v = x.round() as i64;
    let s = v.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

//! What the NAL payloaders answer to a CAPS query on their sink pad.
//!
//! Like rtph264pay / rtph265pay (GStreamer 1.22), the caps offered upstream
//! follow what downstream accepts in RTP terms: H.264 `profile-level-id`
//! (RFC 6184) and H.265 `profile-id` / `tier-flag` / `level-id`
//! (RFC 7798) become the `profile` / `tier` / `level` an encoder may pick.
//! Encoders negotiate by it (webrtcbin sets these fields downstream).
//!
//! Plain functions of the caps, no element state: the element calls
//! [`nal_sink_caps`] with its sink template, its src peer's caps and the
//! query filter.

use crate::core::nal::NalCodec;
use gst::prelude::*;

/// H.264 levels in increasing order, as far as the stock payloader lists
/// them; a level past the end (5.2 and up) allows all of these.
const H264_LEVELS: [&str; 16] = [
    "1", "1b", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4", "4.1", "4.2", "5",
    "5.1",
];

/// H.265 levels in increasing order.
const H265_LEVELS: [&str; 13] = [
    "1", "2", "2.1", "3", "3.1", "4", "4.1", "5", "5.1", "5.2", "6", "6.1", "6.2",
];

/// Sink caps of the payloader of codec `C` (dispatch on
/// `C::ENCODING_NAME`): [`h264_sink_caps`] / [`h265_sink_caps`], then
/// restricted to `filter` (filter order first). Any other codec gets its
/// template.
pub fn nal_sink_caps<C: NalCodec>(
    template: &gst::Caps,
    allowed: Option<&gst::Caps>,
    filter: Option<&gst::Caps>,
) -> gst::Caps {
    let caps = match C::ENCODING_NAME {
        "H264" => h264_sink_caps(template, allowed),
        "H265" => h265_sink_caps(template, allowed),
        _ => template.clone(),
    };
    match filter {
        Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
        None => caps,
    }
}

/// H.264 sink caps for what downstream `allowed` (the src pad's peer caps;
/// `None` = no answer, treated as ANY). Per downstream structure:
/// - a `profile-level-id` string 6 bytes long: its profile (a list with
///   `constrained-baseline` after it unless it is that) and every level up
///   to its level; a value the codec utils cannot name means
///   `constrained-baseline`;
/// - else its `profile` string as is;
/// - else `constrained-baseline`, and an unrestricted structure is added at
///   the end.
///
/// The result is intersected with `template`.
pub fn h264_sink_caps(template: &gst::Caps, allowed: Option<&gst::Caps>) -> gst::Caps {
    let allowed = match downstream(template, allowed) {
        Ok(allowed) => allowed,
        Err(answer) => return answer,
    };
    let mut caps = gst::Caps::new_empty();
    let mut append_unrestricted = false;
    for s in allowed.iter() {
        let mut new_s = gst::Structure::new_empty("video/x-h264");
        if let Some(plid) = string_field(s, "profile-level-id").filter(|p| p.len() == 6) {
            let v = c_strtol_hex(plid);
            let sps = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
            match (
                gst_pbutils::codec_utils_h264_get_profile(&sps),
                gst_pbutils::codec_utils_h264_get_level(&sps),
            ) {
                (Ok(profile), Ok(level)) => {
                    if profile == "constrained-baseline" {
                        new_s.set("profile", profile.as_str());
                    } else {
                        new_s.set(
                            "profile",
                            gst::List::new([profile.as_str(), "constrained-baseline"]),
                        );
                    }
                    new_s.set_value("level", levels_up_to(&level, &H264_LEVELS));
                }
                // Not a profile/level the codec utils know: baseline.
                _ => new_s.set("profile", "constrained-baseline"),
            }
        } else if let Some(profile) = string_field(s, "profile") {
            new_s.set("profile", profile);
        } else {
            // No profile-level-id: baseline, or anything.
            new_s.set("profile", "constrained-baseline");
            append_unrestricted = true;
        }
        caps.merge_structure(new_s);
    }
    if append_unrestricted {
        caps.merge_structure(gst::Structure::new_empty("video/x-h264"));
    }
    caps.intersect(template)
}

/// H.265 sink caps for what downstream `allowed` (as [`h264_sink_caps`]).
/// Per downstream structure, each of the string fields `profile-id`
/// (0..=31), `tier-flag` (0..=1) and `level-id` (0..=255) that is a whole
/// decimal number in range sets `profile` / `tier` / every level up to
/// `level`, as the codec utils name them; the others leave that field
/// open. The result is intersected with `template`.
pub fn h265_sink_caps(template: &gst::Caps, allowed: Option<&gst::Caps>) -> gst::Caps {
    let allowed = match downstream(template, allowed) {
        Ok(allowed) => allowed,
        Err(answer) => return answer,
    };
    let mut caps = gst::Caps::new_empty();
    for s in allowed.iter() {
        let mut new_s = gst::Structure::new_empty("video/x-h265");
        // general_profile_space/tier_flag/profile_idc .. general_level_idc
        let mut ptl = [0u8; 12];
        if let Some(v) = decimal_field(s, "profile-id", 31) {
            ptl[0] = v;
            if let Ok(profile) = gst_pbutils::codec_utils_h265_get_profile(&ptl) {
                new_s.set("profile", profile.as_str());
            }
        }
        if let Some(v) = decimal_field(s, "tier-flag", 1) {
            ptl[0] |= v << 5;
            if let Ok(tier) = gst_pbutils::codec_utils_h265_get_tier(&ptl) {
                new_s.set("tier", tier.as_str());
            }
        }
        if let Some(v) = decimal_field(s, "level-id", 255) {
            ptl[11] = v;
            if let Ok(level) = gst_pbutils::codec_utils_h265_get_level(&ptl) {
                new_s.set_value("level", levels_up_to(&level, &H265_LEVELS));
            }
        }
        caps.merge_structure(new_s);
    }
    caps.intersect(template)
}

/// The downstream caps to derive the answer from, or the answer itself
/// when they restrict nothing: the template when absent or ANY, the empty
/// caps when empty.
fn downstream<'a>(
    template: &gst::Caps,
    allowed: Option<&'a gst::Caps>,
) -> Result<&'a gst::Caps, gst::Caps> {
    match allowed {
        None => Err(template.clone()),
        Some(a) if a.is_any() => Err(template.clone()),
        Some(a) if a.is_empty() => Err(a.clone()),
        Some(a) => Ok(a),
    }
}

/// A string field's value; `None` when absent or not a string.
fn string_field<'a>(s: &'a gst::StructureRef, name: &str) -> Option<&'a str> {
    s.get::<Option<&str>>(name).ok().flatten()
}

/// `level` alone when it is "1", else the list of every level from `level`
/// down to the lowest (all of `all`, highest first, when `level` is not in
/// it).
fn levels_up_to(level: &str, all: &[&str]) -> gst::glib::SendValue {
    if level == "1" {
        return level.to_send_value();
    }
    let upto = all
        .iter()
        .position(|l| *l == level)
        .map_or(all.len(), |i| i + 1);
    gst::List::new(all[..upto].iter().rev().copied()).to_send_value()
}

/// Where C's `strtol`/`strtoul` start reading digits: after leading white
/// space and an optional sign (and whether that sign was `-`).
fn c_number_start(b: &[u8]) -> (usize, bool) {
    let i = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    match b.get(i) {
        Some(b'-') => (i + 1, true),
        Some(b'+') => (i + 1, false),
        _ => (i, false),
    }
}

/// What C `strtol(s, NULL, 16)` gives: leading white space, a sign and a
/// `0x` prefix are accepted, parsing stops at the first non-hex character
/// (0 when there is none). Only called on 6-byte strings, so no overflow.
fn c_strtol_hex(s: &str) -> i64 {
    let b = s.as_bytes();
    let (mut i, negative) = c_number_start(b);
    if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
    }
    let v = b[i..]
        .iter()
        .map_while(|c| char::from(*c).to_digit(16))
        .fold(0i64, |v, d| {
            v.saturating_mul(16).saturating_add(i64::from(d))
        });
    if negative {
        -v
    } else {
        v
    }
}

/// A string field holding a whole decimal number in `0..=max`, read the way
/// C `strtoul(s, &end, 10)` with `*end == '\0'` reads it (leading white
/// space and a sign allowed, `-0` is 0, any other negative wraps out of
/// range).
fn decimal_field(s: &gst::StructureRef, name: &str, max: u8) -> Option<u8> {
    let b = string_field(s, name)?.as_bytes();
    let (i, negative) = c_number_start(b);
    let digits = &b[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0u64, |v, d| {
        v.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let v = if negative { v.wrapping_neg() } else { v };
    u8::try_from(v).ok().filter(|v| *v <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() {
        gst::init().unwrap();
    }

    fn caps(s: &str) -> gst::Caps {
        s.parse().unwrap()
    }

    /// A template that restricts nothing, so the answer shows exactly the
    /// structures derived from downstream.
    fn open_template(media: &str) -> gst::Caps {
        gst::Caps::new_empty_simple(media)
    }

    /// Levels from `top` down to the lowest of `all`.
    fn down_from(top: &str, all: &[&str]) -> gst::List {
        let i = all.iter().position(|l| *l == top).unwrap();
        gst::List::new(all[..=i].iter().rev().copied())
    }

    fn h264(downstream: &str) -> gst::Caps {
        h264_sink_caps(&open_template("video/x-h264"), Some(&caps(downstream)))
    }

    fn h265(downstream: &str) -> gst::Caps {
        h265_sink_caps(&open_template("video/x-h265"), Some(&caps(downstream)))
    }

    fn assert_caps(got: gst::Caps, want: &[gst::Structure]) {
        let want = gst::Caps::from_iter(want.iter().cloned());
        assert!(got.is_strictly_equal(&want), "got {got}\nwant {want}");
    }

    fn h264_s() -> gst::structure::Builder {
        gst::Structure::builder("video/x-h264")
    }

    fn h265_s() -> gst::structure::Builder {
        gst::Structure::builder("video/x-h265")
    }

    #[test]
    fn h264_profile_level_id() {
        init();
        // constrained-baseline 3.1: that profile alone, levels 3.1 down to 1.
        assert_caps(
            h264("application/x-rtp,profile-level-id=42e01f"),
            &[h264_s()
                .field("profile", "constrained-baseline")
                .field("level", down_from("3.1", &H264_LEVELS))
                .build()],
        );
        // main 4: main or constrained-baseline, levels 4 down to 1.
        assert_caps(
            h264("application/x-rtp,profile-level-id=4d0028"),
            &[h264_s()
                .field("profile", gst::List::new(["main", "constrained-baseline"]))
                .field("level", down_from("4", &H264_LEVELS))
                .build()],
        );
        // profile_idc 100 with constraint_set4+5: constrained-high 3.1.
        assert_caps(
            h264("application/x-rtp,profile-level-id=640c1f"),
            &[h264_s()
                .field(
                    "profile",
                    gst::List::new(["constrained-high", "constrained-baseline"]),
                )
                .field("level", down_from("3.1", &H264_LEVELS))
                .build()],
        );
        // Level 1 is a plain string; 1b is in the list.
        assert_caps(
            h264("application/x-rtp,profile-level-id=42e00a"),
            &[h264_s()
                .field("profile", "constrained-baseline")
                .field("level", "1")
                .build()],
        );
        assert_caps(
            h264("application/x-rtp,profile-level-id=42f00b"),
            &[h264_s()
                .field("profile", "constrained-baseline")
                .field("level", down_from("1b", &H264_LEVELS))
                .build()],
        );
        // 5.2 is past stock's list: every listed level.
        assert_caps(
            h264("application/x-rtp,profile-level-id=(string)640034"),
            &[h264_s()
                .field("profile", gst::List::new(["high", "constrained-baseline"]))
                .field("level", down_from("5.1", &H264_LEVELS))
                .build()],
        );
    }

    #[test]
    fn h264_without_usable_profile_level_id() {
        init();
        let cb = || h264_s().field("profile", "constrained-baseline").build();
        // None: baseline, or anything.
        assert_caps(h264("application/x-rtp"), &[cb(), h264_s().build()]);
        // Not 6 characters, or not a string: as if absent.
        for odd in [
            "profile-level-id=42e01",
            "profile-level-id=42e01f0",
            "profile-level-id=(string)\"\"",
            "profile-level-id=(int)4325407",
            "profile-level-id={42e01f,4d0028}",
        ] {
            assert_caps(
                h264(&format!("application/x-rtp,{odd}")),
                &[cb(), h264_s().build()],
            );
        }
        // 6 characters the codec utils cannot name: baseline only.
        for odd in ["zzzzzz", "ff001f", "4200ff", "(string)\"42 01f\""] {
            assert_caps(
                h264(&format!("application/x-rtp,profile-level-id={odd}")),
                &[cb()],
            );
        }
        // A profile string instead.
        assert_caps(
            h264("application/x-rtp,profile=main"),
            &[h264_s().field("profile", "main").build()],
        );
        // One structure per downstream structure, merged.
        assert_caps(
            h264("application/x-rtp,profile-level-id=42e01f;application/x-rtp,profile-level-id=42e01f;application/x-rtp"),
            &[
                h264_s()
                    .field("profile", "constrained-baseline")
                    .field("level", down_from("3.1", &H264_LEVELS))
                    .build(),
                cb(),
                h264_s().build(),
            ],
        );
    }

    #[test]
    fn strtol_like_c() {
        assert_eq!(c_strtol_hex("42e01f"), 0x42e01f);
        assert_eq!(c_strtol_hex(" 4d01f"), 0x4d01f);
        assert_eq!(c_strtol_hex("0x4d00"), 0x4d00);
        assert_eq!(c_strtol_hex("0X4D00"), 0x4d00);
        assert_eq!(c_strtol_hex("0xzz00"), 0);
        assert_eq!(c_strtol_hex("-4d001"), -0x4d001);
        assert_eq!(c_strtol_hex("+4d001"), 0x4d001);
        assert_eq!(c_strtol_hex("- 4d01"), 0);
        assert_eq!(c_strtol_hex("4d zzz"), 0x4d);
        assert_eq!(c_strtol_hex("zzzzzz"), 0);
        assert_eq!(c_strtol_hex("ééé"), 0);
    }

    #[test]
    fn h265_profile_tier_level() {
        init();
        assert_caps(
            h265("application/x-rtp,profile-id=(string)1"),
            &[h265_s().field("profile", "main").build()],
        );
        assert_caps(
            h265("application/x-rtp,profile-id=(string)2"),
            &[h265_s().field("profile", "main-10").build()],
        );
        assert_caps(
            h265("application/x-rtp,profile-id=(string)1,level-id=(string)93,tier-flag=(string)0"),
            &[h265_s()
                .field("profile", "main")
                .field("tier", "main")
                .field("level", down_from("3.1", &H265_LEVELS))
                .build()],
        );
        assert_caps(
            h265("application/x-rtp,tier-flag=(string)1,level-id=(string)30"),
            &[h265_s().field("tier", "high").field("level", "1").build()],
        );
        assert_caps(
            h265("application/x-rtp,level-id=(string)186"),
            &[h265_s()
                .field("level", down_from("6.2", &H265_LEVELS))
                .build()],
        );
        // Read like strtoul: white space and sign before the digits.
        assert_caps(
            h265("application/x-rtp,profile-id=(string)\" +1\""),
            &[h265_s().field("profile", "main").build()],
        );
    }

    #[test]
    fn h265_odd_fields_leave_it_open() {
        init();
        for odd in [
            "profile-id=(string)32",
            "profile-id=(string)-1",
            "profile-id=(string)1x",
            "profile-id=(string)\"1 \"",
            "profile-id=(string)\"\"",
            "profile-id=(string)99999999999999999999999",
            "profile-id=(int)1",
            "tier-flag=(string)2",
            "tier-flag=(int)1",
            "level-id=(string)256",
            "level-id=(string)0",
            "level-id=(int)93",
        ] {
            assert_caps(
                h265(&format!("application/x-rtp,{odd}")),
                &[h265_s().build()],
            );
        }
    }

    #[test]
    fn any_empty_absent_and_filter() {
        init();
        let template = caps("video/x-h264,stream-format=byte-stream,alignment={nal,au}");
        assert!(h264_sink_caps(&template, None).is_strictly_equal(&template));
        assert!(h264_sink_caps(&template, Some(&gst::Caps::new_any())).is_strictly_equal(&template));
        assert!(h264_sink_caps(&template, Some(&gst::Caps::new_empty())).is_empty());
        assert!(h265_sink_caps(&template, None).is_strictly_equal(&template));
        assert!(h265_sink_caps(&template, Some(&gst::Caps::new_empty())).is_empty());

        // The template narrows the derived caps; the filter comes first.
        let downstream = caps("application/x-rtp,profile-level-id=4d0028");
        let filter = caps(
            "video/x-h264,alignment=au,profile=main;video/x-h264,profile=constrained-baseline",
        );
        let got =
            nal_sink_caps::<crate::core::nal::H264>(&template, Some(&downstream), Some(&filter));
        let levels = down_from("4", &H264_LEVELS);
        assert_caps(
            got,
            &[
                h264_s()
                    .field("alignment", "au")
                    .field("profile", "main")
                    .field("stream-format", "byte-stream")
                    .field("level", levels.clone())
                    .build(),
                h264_s()
                    .field("profile", "constrained-baseline")
                    .field("stream-format", "byte-stream")
                    .field("alignment", gst::List::new(["nal", "au"]))
                    .field("level", levels)
                    .build(),
            ],
        );
    }
}

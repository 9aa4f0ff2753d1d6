//! Property and signal parity with the stock elements, read through GObject
//! introspection: every property of rtph264pay / rtph264depay / rtph265pay /
//! rtph265depay must exist on ours with the same name, value type, default,
//! flags and range (enums: the same values and nicks), and every signal of
//! the stock element (the base classes' header-extension action signals
//! included) must exist on ours with the same flags, parameter types and
//! return type. Ours may have more. On failure the test prints every
//! difference, stock against ours.

mod common;
use gst::glib;
use gst::glib::translate::{FromGlib, IntoGlib};
use gst::prelude::*;
use std::collections::BTreeMap;

/// The flags a user can observe the difference of (not the STATIC_* string
/// storage flags, not the doc-only ones).
fn relevant_flags(f: glib::ParamFlags) -> String {
    let named = [
        (glib::ParamFlags::READABLE, "readable"),
        (glib::ParamFlags::WRITABLE, "writable"),
        (glib::ParamFlags::CONSTRUCT, "construct"),
        (glib::ParamFlags::CONSTRUCT_ONLY, "construct-only"),
        (glib::ParamFlags::DEPRECATED, "deprecated"),
        (gst::PARAM_FLAG_CONTROLLABLE, "controllable"),
        (gst::PARAM_FLAG_MUTABLE_READY, "mutable-ready"),
        (gst::PARAM_FLAG_MUTABLE_PAUSED, "mutable-paused"),
        (gst::PARAM_FLAG_MUTABLE_PLAYING, "mutable-playing"),
    ];
    named
        .iter()
        .filter(|(bit, _)| f.contains(*bit))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("|")
}

fn value_string(v: &glib::Value) -> String {
    if let Some((_, ev)) = glib::EnumValue::from_value(v) {
        return format!("{} ({})", ev.value(), ev.nick());
    }
    if let Some((_, set)) = glib::FlagsValue::from_value(v) {
        let bits = set.iter().fold(0, |acc, f| acc | f.value());
        return format!("flags {bits:#x}");
    }
    if let Ok(None) = v.get::<Option<gst::Structure>>() {
        return "GstStructure: NULL".into();
    }
    // Sinks' last-sample: serializing a NULL sample is a GStreamer critical.
    if let Ok(None) = v.get::<Option<gst::Sample>>() {
        return "GstSample: NULL".into();
    }
    match v.serialize() {
        Ok(s) => format!("{}: {s}", v.type_().name()),
        Err(_) => format!("{v:?}"),
    }
}

/// A canonical description of a property: everything that must match.
fn describe(p: &glib::ParamSpec) -> String {
    let vt = p.value_type();
    // Two plugins cannot register the same enum GType name, so for enums
    // the type is compared by its values and nicks.
    let ty = if vt.is_a(glib::Type::ENUM) {
        let class = glib::EnumClass::with_type(vt).unwrap();
        let vals: Vec<String> = class
            .values()
            .iter()
            .map(|v| format!("{}={}({})", v.value(), v.nick(), v.name()))
            .collect();
        format!("enum [{}]", vals.join(", "))
    } else if vt.is_a(glib::Type::FLAGS) {
        let class = glib::FlagsClass::with_type(vt).unwrap();
        let vals: Vec<String> = class
            .values()
            .iter()
            .map(|v| format!("{:#x}={}", v.value(), v.nick()))
            .collect();
        format!("flags [{}]", vals.join(", "))
    } else {
        vt.name().to_string()
    };
    macro_rules! range {
        ($($t:ty),*) => {{
            let mut r = String::new();
            $(
                if let Some(s) = p.downcast_ref::<$t>() {
                    r = format!(" range [{:?}, {:?}]", s.minimum(), s.maximum());
                }
            )*
            r
        }};
    }
    let range = range!(
        glib::ParamSpecInt,
        glib::ParamSpecUInt,
        glib::ParamSpecInt64,
        glib::ParamSpecUInt64,
        glib::ParamSpecLong,
        glib::ParamSpecULong,
        glib::ParamSpecFloat,
        glib::ParamSpecDouble,
        glib::ParamSpecChar,
        glib::ParamSpecUChar
    );
    format!(
        "type {ty}; flags {}; default {}{range}",
        relevant_flags(p.flags()),
        value_string(p.default_value())
    )
}

fn properties_of(e: &gst::Element) -> BTreeMap<String, String> {
    e.list_properties()
        .iter()
        .map(|p| (p.name().to_string(), describe(p)))
        .collect()
}

/// Every signal of the type and its ancestors, by name.
fn signals_of(t: glib::Type) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cur = Some(t);
    while let Some(ty) = cur {
        // SAFETY: FFI edge. g_signal_list_ids returns a newly allocated array
        // of `n` signal ids of a registered type; we read exactly `n` and
        // free it with g_free, as its documentation asks.
        unsafe {
            let mut n = 0u32;
            let ids = glib::gobject_ffi::g_signal_list_ids(ty.into_glib(), &mut n);
            for i in 0..n as usize {
                let id = glib::subclass::signal::SignalId::from_glib(*ids.add(i));
                let q = id.query();
                let params: Vec<String> = q
                    .param_types()
                    .iter()
                    .map(|p| p.type_().name().to_string())
                    .collect();
                out.entry(q.signal_name().to_string()).or_insert(format!(
                    "flags {:?}; params ({}); returns {}",
                    q.flags(),
                    params.join(", "),
                    q.return_type().type_().name()
                ));
            }
            glib::ffi::g_free(ids as *mut _);
        }
        cur = ty.parent();
    }
    out
}

/// Differences between stock and ours: what stock has that ours lacks or
/// has differently. Ours may have more.
fn diff(
    what: &str,
    stock: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut d = Vec::new();
    for (name, s) in stock {
        match ours.get(name) {
            None => d.push(format!("  {what} `{name}` missing\n    stock: {s}")),
            Some(o) if o != s => d.push(format!(
                "  {what} `{name}` differs\n    stock: {s}\n    ours:  {o}"
            )),
            _ => {}
        }
    }
    d
}

fn parity_diff(stock_name: &str, ours_name: &str) -> Vec<String> {
    common::init();
    let stock = gst::ElementFactory::make(stock_name).build().unwrap();
    let ours = gst::ElementFactory::make(ours_name).build().unwrap();
    let mut d = diff("property", &properties_of(&stock), &properties_of(&ours));
    d.extend(diff(
        "signal",
        &signals_of(stock.type_()),
        &signals_of(ours.type_()),
    ));
    d
}

fn check_parity(stock_name: &str, ours_name: &str, must_have_signals: &[&str]) {
    // The comparison must be about something: stock has the base class's
    // properties and the header-extension signals.
    common::init();
    let stock = gst::ElementFactory::make(stock_name).build().unwrap();
    let stock_props = properties_of(&stock);
    for p in ["stats", "source-info", "auto-header-extension"] {
        assert!(stock_props.contains_key(p), "{stock_name} lacks {p}?");
    }
    let stock_signals = signals_of(stock.type_());
    for s in must_have_signals {
        assert!(stock_signals.contains_key(*s), "{stock_name} lacks {s}?");
    }
    let ours = gst::ElementFactory::make(ours_name).build().unwrap();
    let ours_props = properties_of(&ours);
    let mut d = diff("property", &stock_props, &ours_props);
    d.extend(diff("signal", &stock_signals, &signals_of(ours.type_())));
    assert!(
        d.is_empty(),
        "{ours_name} is not a drop-in for {stock_name}:\n{}",
        d.join("\n")
    );
}

const PAY_SIGNALS: [&str; 3] = ["add-extension", "clear-extensions", "request-extension"];
const DEPAY_SIGNALS: [&str; 3] = ["add-extension", "clear-extensions", "request-extension"];

#[test]
fn h264pay_properties_and_signals_match_stock() {
    check_parity("rtph264pay", "rtpfasth264pay", &PAY_SIGNALS);
}

#[test]
fn h264depay_properties_and_signals_match_stock() {
    check_parity("rtph264depay", "rtpfasth264depay", &DEPAY_SIGNALS);
}

#[test]
fn h265pay_properties_and_signals_match_stock() {
    check_parity("rtph265pay", "rtpfasth265pay", &PAY_SIGNALS);
}

#[test]
fn h265depay_properties_and_signals_match_stock() {
    check_parity("rtph265depay", "rtpfasth265depay", &DEPAY_SIGNALS);
}

#[test]
fn audio_mp2t_vraw_properties_and_signals_match_stock() {
    for (stock, ours, signals) in [
        ("rtpL16pay", "rtpfastL16pay", &PAY_SIGNALS),
        ("rtpL16depay", "rtpfastL16depay", &DEPAY_SIGNALS),
        ("rtpL24pay", "rtpfastL24pay", &PAY_SIGNALS),
        ("rtpL24depay", "rtpfastL24depay", &DEPAY_SIGNALS),
        ("rtpopuspay", "rtpfastopuspay", &PAY_SIGNALS),
        ("rtpopusdepay", "rtpfastopusdepay", &DEPAY_SIGNALS),
        ("rtpmp2tpay", "rtpfastmp2tpay", &PAY_SIGNALS),
        ("rtpmp2tdepay", "rtpfastmp2tdepay", &DEPAY_SIGNALS),
        ("rtpvrawpay", "rtpfastvrawpay", &PAY_SIGNALS),
        ("rtpvrawdepay", "rtpfastvrawdepay", &DEPAY_SIGNALS),
    ] {
        check_parity(stock, ours, signals);
    }
}

/// The comparison itself can tell elements apart: a payloader is not a
/// drop-in for a depayloader, and H.264's aggregate-mode enum is not H.265's.
#[test]
fn parity_check_detects_differences() {
    let d = parity_diff("rtph264pay", "rtpfasth264depay");
    assert!(d.iter().any(|l| l.contains("`mtu` missing")), "{d:?}");
    assert!(d
        .iter()
        .any(|l| l.contains("`add-extension`") || l.contains("`pt` missing")));
    // A signal the stock payloader has and an encoder lacks.
    let d = parity_diff("rtph264pay", "x264enc");
    assert!(
        d.iter()
            .any(|l| l.contains("signal `add-extension` missing")),
        "{d:?}"
    );
    let d = parity_diff("rtph264pay", "rtpfasth265pay");
    assert!(
        d.iter().any(|l| l.contains("`aggregate-mode` differs")),
        "{d:?}"
    );
}

/// rtpfastudpsink against udpsink (multiudpsink + host/port) and
/// multiudpsink: the same properties (flags, defaults, ranges) and the
/// same action and client signals.
#[test]
fn udpsink_properties_and_signals_match_stock() {
    common::init();
    for stock in ["udpsink", "multiudpsink"] {
        let s = signals_of(gst::ElementFactory::make(stock).build().unwrap().type_());
        for sig in [
            "add",
            "remove",
            "clear",
            "get-stats",
            "client-added",
            "client-removed",
        ] {
            assert!(s.contains_key(sig), "{stock} lacks {sig}?");
        }
        let mut d = parity_diff(stock, "rtpfastudpsink");
        // multiudpsink has no host/port and its `clients` default is empty;
        // ours is udpsink, whose default client is localhost:5004.
        if stock == "multiudpsink" {
            d.retain(|l| !l.contains("`clients`") && !l.contains("`name`"));
        } else {
            d.retain(|l| !l.contains("`name`"));
        }
        assert!(d.is_empty(), "rtpfastudpsink vs {stock}:\n{}", d.join("\n"));
    }
}

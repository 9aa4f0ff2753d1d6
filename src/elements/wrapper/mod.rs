//! `rtpfastpay` / `rtpfastdepay`: bins that hold the rsrtpfast element for
//! the caps that arrive, or the best stock one when we have none.

use gst::glib;
use gst::prelude::*;

mod bin;
pub mod depay;
pub mod pay;
pub mod select;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Rank NONE: a wrapper is inserted by hand, never autoplugged (the
    // elements inside have their own ranks).
    gst::Element::register(
        Some(plugin),
        "rtpfastpay",
        gst::Rank::NONE,
        pay::RtpFastPay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfastdepay",
        gst::Rank::NONE,
        depay::RtpFastDepay::static_type(),
    )
}

/// Properties both wrappers have besides the common four.
fn identity_properties() -> [glib::ParamSpec; 2] {
    [
        glib::ParamSpecString::builder("active-element")
            .nick("Active element")
            .blurb("Factory name of the element inside (none before caps arrive)")
            .read_only()
            .build(),
        glib::ParamSpecBoolean::builder("native")
            .nick("Native")
            .blurb("Whether the element inside is an rsrtpfast element")
            .default_value(false)
            .read_only()
            .build(),
    ]
}

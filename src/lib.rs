//! rsrtpfast: drop-in, faster RTP payloaders and depayloaders for GStreamer.
//!
//! `core` is pure Rust (no GObject) and holds the hot logic; `pool` holds the
//! lock-free buffer pool; `elements` is the thin GStreamer shell. `performance`
//! (tests only) gathers the fast-path tests.

pub mod core;
pub mod elements;
pub mod io;
pub mod pool;

// The fast-path tests, gathered (`cargo test performance::buffer_pool`).
#[cfg(test)]
mod performance;

use gst::glib;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    pool::register(plugin)?;
    elements::register(plugin)
}

gst::plugin_define!(
    rsrtpfast,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);

//! The GStreamer shell: one folder per element family, thin over the shared
//! pay/depay bases in `base/`.

use gst::glib;
use gst::prelude::*;

pub mod base;
pub mod h264;
pub mod h265;
pub mod l16;
pub mod l24;
pub mod mp2t;
pub mod opus;
pub mod udpsink;
pub mod udpsrc;
pub mod vraw;
pub mod wrapper;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Once per process (the plugin loads once): a typo or a level this CPU
    // lacks in RSRTPFAST_SIMD is said plainly, on stderr as well as in the
    // debug log, instead of silently running another level.
    let env = std::env::var(crate::core::simd::SIMD_ENV_VAR).ok();
    if let Some(problem) = crate::core::simd::env_problem(env.as_deref()) {
        glib::g_warning!("rsrtpfast", "{problem}");
    }
    // The abstract base classes, documented as plugin API like GStreamer's.
    base::pay::RtpFastBasePay::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    base::depay::register();
    h264::register(plugin)?;
    h265::register(plugin)?;
    l16::register(plugin)?;
    l24::register(plugin)?;
    opus::register(plugin)?;
    mp2t::register(plugin)?;
    vraw::register(plugin)?;
    wrapper::register(plugin)?;
    udpsrc::register(plugin)?;
    udpsink::register(plugin)?;
    Ok(())
}

/// The `simd` property: auto, off, and each level this CPU family has.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtpFastSimd")]
pub enum SimdMode {
    #[default]
    #[enum_value(
        name = "Pick the best level this CPU supports (or RSRTPFAST_SIMD)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "Scalar code only", nick = "off")]
    Off = 1,
    #[cfg(target_arch = "x86_64")]
    #[enum_value(name = "SSE2", nick = "sse2")]
    Sse2 = 2,
    #[cfg(target_arch = "x86_64")]
    #[enum_value(name = "AVX2", nick = "avx2")]
    Avx2 = 3,
    #[cfg(target_arch = "aarch64")]
    #[enum_value(name = "NEON", nick = "neon")]
    Neon = 4,
}

impl SimdMode {
    pub fn requested(self) -> Option<crate::core::simd::SimdLevel> {
        use crate::core::simd::SimdLevel;
        match self {
            SimdMode::Auto => None,
            SimdMode::Off => Some(SimdLevel::Scalar),
            #[cfg(target_arch = "x86_64")]
            SimdMode::Sse2 => Some(SimdLevel::Sse2),
            #[cfg(target_arch = "x86_64")]
            SimdMode::Avx2 => Some(SimdLevel::Avx2),
            #[cfg(target_arch = "aarch64")]
            SimdMode::Neon => Some(SimdLevel::Neon),
        }
    }
}

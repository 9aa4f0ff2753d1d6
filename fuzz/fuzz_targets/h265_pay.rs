//! H265 packetizer (RFC 7798) fed arbitrary access units, MTU and settings.
#![no_main]

use gstrsrtpfast::core::nal::H265;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_input::nal::pay::<H265>(data));

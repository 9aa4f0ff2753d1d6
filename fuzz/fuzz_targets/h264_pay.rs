//! H264 packetizer (RFC 6184) fed arbitrary access units, MTU and settings.
#![no_main]

use gstrsrtpfast::core::nal::H264;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_input::nal::pay::<H264>(data));

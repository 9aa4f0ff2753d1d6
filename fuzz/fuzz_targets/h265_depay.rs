//! H265 depacketizer (RFC 7798) fed arbitrary RTP packet sequences.
#![no_main]

use gstrsrtpfast::core::nal::H265;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_input::nal::depay::<H265>(data));

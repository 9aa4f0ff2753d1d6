//! H264 depacketizer (RFC 6184) fed arbitrary RTP packet sequences.
#![no_main]

use gstrsrtpfast::core::nal::H264;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_input::nal::depay::<H264>(data));

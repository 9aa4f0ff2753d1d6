//! Pure-Rust core: no GObject here. Everything in this module works on byte
//! slices and plain structs so it can be unit-tested, fuzzed and benchmarked
//! without a pipeline.

pub mod audio;
pub mod byteswap;
pub mod depacketizer;
pub mod mp2t;
pub mod nal;
pub mod opus;
pub mod packetizer;
pub mod pcm_packetizer;
pub mod rtp;
pub mod simd;
pub mod startcode;
pub mod vraw;

//! GstRtpFastBufferPool: lock-free, process-wide buffer pool.
pub mod core;

//! Shared machinery of all rsrtpfast payloaders and depayloaders.

pub mod nal_depay;
pub mod nal_pay;
pub mod stats;

//! Shared machinery of all rsrtpfast payloaders and depayloaders.

pub mod element_macros;
pub mod nal_depay;
pub mod nal_pay;
#[cfg(test)]
pub mod pay_fast_path_tests;
pub mod stats;

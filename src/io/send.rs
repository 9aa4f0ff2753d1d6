//! Batched send: sendmmsg + UDP GSO.

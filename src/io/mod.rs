//! Batched UDP I/O, plain Rust over the socket (no GObject): `recv` fills
//! pooled blocks with `recvmmsg` (+ UDP GRO), `send` drains packets with
//! `sendmmsg` (+ UDP GSO). `rtpfastudpsrc` / `rtpfastudpsink` are thin
//! elements over them.

pub mod recv;
pub mod send;

//! The fast-path tests, gathered in one tree so the founding document's
//! commands select them:
//!
//! - `cargo test performance::buffer_pool` (also under
//!   `valgrind --tool=massif`): blocks and buffer lists are recycled, not
//!   allocated again; packet headers come from the pool.
//! - `cargo test performance::simd`: the runtime SIMD dispatch.
//! - `zero_copy`: the payloader harness and zero-copy checks that
//!   `cargo test h264::pay::performance` / `h265::pay::performance` run
//!   (those test modules stay with their elements, where the commands name
//!   them).

pub(crate) mod buffer_pool;
mod simd;
pub(crate) mod zero_copy;

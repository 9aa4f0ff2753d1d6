//! Batched receive: recvmmsg + UDP GRO.

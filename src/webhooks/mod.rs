//! Order events from AHEAD: a receiver that is safe on the open internet (signature checked in
//! constant time, size and type limits, each delivery stored once) and feeds the same mirror and
//! change log as the pulls. A webhook is a hint: the next pull of the stream confirms or
//! corrects what it said.

pub(crate) mod apply;
pub(crate) mod connections;
pub(crate) mod receiver;
pub mod verify;

pub use receiver::{serve, ReceiverConfig, Tally};

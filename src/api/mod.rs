//! The AHEAD client: OAuth tokens that outlive a process (or, for legacy accounts, a signature on
//! every request), a retry/refresh loop around every request, pacing shared by all of them, the
//! `q` builder and a paged reader.
//!
//! Architecture invariant: this module knows nothing of the jobs above it, and shares no types
//! with the sandbox; its reading of the contract is in `contract.rs` alone.

mod auth;
mod client;
pub mod contract;
mod error;
mod mbx;
mod pace;
mod pages;
pub(crate) mod query;
pub mod retry;
mod transport;

pub use client::{ApiClient, ClientConfig, Sleeper, Stats};
pub use error::ApiError;
pub use mbx::MbxKeys;
pub use pages::{pages, Page};
pub(crate) use query::Op;
pub use query::Query;

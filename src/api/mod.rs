//! The AHEAD client: OAuth tokens that outlive a process, a retry/refresh loop around every
//! request, the `q` builder and a paged reader.
//!
//! Architecture invariant: this module knows nothing of the jobs above it, and shares no types
//! with the sandbox; its reading of the contract is in `contract.rs` alone.

mod auth;
mod client;
pub mod contract;
mod error;
mod pages;
pub(crate) mod query;
pub mod retry;
mod transport;

pub use client::{ApiClient, ClientConfig, Sleeper, Stats};
pub use error::ApiError;
pub use pages::{pages, Page};
pub(crate) use query::Op;
pub use query::Query;

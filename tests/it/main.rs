//! The one integration-test binary: a module per area, helpers in `util`.

mod util;

mod auth;
mod client;
mod commands;
mod pull;
mod sandbox;
mod schedules;

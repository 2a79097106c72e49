//! The one integration-test binary: a module per area, helpers in `util`.

mod util;

mod auth;
mod client;
mod commands;
mod daemon;
mod deploy;
mod edges;
mod first_hour;
mod help;
mod legacy;
mod logs;
mod mapping;
mod metrics;
mod outbox;
mod pacing;
mod progress;
mod pull;
mod push;
mod reconcile;
mod sandbox;
mod schedules;
mod trust;
mod webhooks;
mod x12check;

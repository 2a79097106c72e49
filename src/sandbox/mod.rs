//! The embedded AHEAD sandbox (in progress).

//! Error kinds that decide the process exit code (product.md, "Exit codes").
//!
//! Library code returns typed errors; the edge (`main`) turns the first recognised kind found in
//! an `anyhow` chain into an exit code. Anything unrecognised is a plain failure (exit 1).

use thiserror::Error;

/// Exit codes, as documented in README.md and product.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok = 0,
    /// 1: failed; nothing half-applied is left, a re-run continues safely.
    Failed = 1,
    /// 2: usage or configuration error.
    Usage = 2,
    /// 3: done, but some input rows were rejected.
    Rejected = 3,
    /// 4: skipped because another run of the same job holds the lock.
    Locked = 4,
    /// 5: credentials rejected; a person must act.
    Credentials = 5,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A problem with the configuration file, the environment or the command line.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }
}

/// An error and every cause under it, as `anyhow`'s `{:#}` shows them: for logs of typed errors
/// whose own message names only the context.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

/// Whether the error means every other job talking to AHEAD would fail the same way (credentials
/// rejected, host unreachable): `sync` stops at the first.
pub fn stops_sync(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<crate::api::ApiError>()
            .is_some_and(|api| api.fails_every_request())
    })
}

/// The exit code for an error chain: the first kind we recognise wins.
pub fn exit_for(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if cause.is::<ConfigError>() {
            return Exit::Usage;
        }
        if let Some(api) = cause.downcast_ref::<crate::api::ApiError>() {
            if api.is_credentials() {
                return Exit::Credentials;
            }
        }
        if let Some(crate::lock::LockError::Held { .. }) =
            cause.downcast_ref::<crate::lock::LockError>()
        {
            return Exit::Locked;
        }
        if let Some(requeue) = cause.downcast_ref::<crate::push::RequeueError>() {
            if !matches!(requeue, crate::push::RequeueError::Io { .. }) {
                return Exit::Usage;
            }
        }
        if let Some(store) = cause.downcast_ref::<crate::store::StoreError>() {
            if matches!(
                store,
                crate::store::StoreError::TooNew { .. }
                    | crate::store::StoreError::OtherAhead { .. }
            ) {
                return Exit::Usage;
            }
        }
    }
    Exit::Failed
}

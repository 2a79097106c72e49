//! Error kinds that decide the process exit code (product.md, "Exit codes").
//!
//! Library code returns typed errors; the edge (`main`) turns the first recognised kind found in
//! an `anyhow` chain into an exit code. Anything unrecognised is a plain failure (exit 1).

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

/// A problem with the configuration file, the environment or the command line: said in a
/// message, or a typed error (a mapping or schedule file that cannot be used) kept whole.
#[derive(Debug)]
pub(crate) enum ConfigError {
    Message(String),
    /// Shows as its cause does, with the cause's own sources after it, so the chain reads as
    /// the cause's would; the cause itself stays readable (`cause`), and this wrapper says that
    /// it is a usage error.
    Caused(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Message(m) => f.write_str(m),
            ConfigError::Caused(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Message(_) => None,
            ConfigError::Caused(e) => e.source(),
        }
    }
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError::Message(message.into())
    }

    /// `error`, as a usage error (exit 2).
    pub(crate) fn caused_by(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ConfigError::Caused(Box::new(error))
    }

    /// The typed error this one wraps, if any.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            ConfigError::Message(_) => None,
            ConfigError::Caused(e) => Some(e.as_ref()),
        }
    }
}

/// An error and every cause under it, as `anyhow`'s `{:#}` shows them: for logs of typed errors
/// whose own message names only the context.
pub(crate) struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

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
pub(crate) fn stops_sync(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<crate::api::ApiError>()
            .is_some_and(|api| api.fails_every_request())
    })
}

/// The exit code for an error chain: the first kind we recognise wins.
pub(crate) fn exit_for(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if cause.is::<ConfigError>() || cause.is::<crate::outbox::SpecError>() {
            return Exit::Usage;
        }
        if let Some(api) = cause.downcast_ref::<crate::api::ApiError>() {
            if api.is_credentials() {
                return Exit::Credentials;
            }
        }
        if let Some(crate::lock::LockError::Held { .. } | crate::lock::LockError::InUse { .. }) =
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_cause_is_a_usage_error_that_reads_as_the_cause() {
        let cause = std::io::Error::new(std::io::ErrorKind::NotFound, "no such mapping");
        let error = anyhow::Error::new(ConfigError::caused_by(cause)).context("push");
        assert_eq!(exit_for(&error), Exit::Usage);
        assert_eq!(format!("{error:#}"), "push: no such mapping");
        let config = error.downcast_ref::<ConfigError>().unwrap();
        let cause = config.cause().unwrap();
        assert_eq!(
            cause.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::NotFound
        );
    }
}

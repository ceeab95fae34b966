//! The supervisor: every long-running service of `callbox run` runs under it.

use std::future::Future;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

/// One run of a service: ends with `Ok` only when cancelled; anything else is a failure.
pub type ServiceRun = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A long-running service: a name for the log and the status, and how to (re)start it.
pub struct Service {
    pub name: &'static str,
    /// A critical service that is not running stops the systemd watchdog pings.
    pub critical: bool,
    start: Box<dyn FnMut(CancellationToken) -> ServiceRun + Send>,
}

impl Service {
    pub fn new(
        name: &'static str,
        start: impl FnMut(CancellationToken) -> ServiceRun + Send + 'static,
    ) -> Service {
        Service {
            name,
            critical: false,
            start: Box::new(start),
        }
    }

    /// Marks the service as one the box cannot answer calls without.
    pub fn critical(mut self) -> Service {
        self.critical = true;
        self
    }

    /// Starts one run of the service.
    pub fn start(&mut self, token: CancellationToken) -> ServiceRun {
        (self.start)(token)
    }
}

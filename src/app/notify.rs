//! A small systemd notify client (`sd_notify(3)`): `READY=1`, `WATCHDOG=1`, `STOPPING=1`,
//! `STATUS=…` as datagrams to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace). Without `$NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every
//! call does nothing.

use crate::app::supervisor::ServiceStatuses;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;
use tracing::debug;

/// Where notifications go; `None` when systemd is not listening.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The socket named by `$NOTIFY_SOCKET`, if any.
    pub fn from_env() -> Notifier {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(name) if !name.is_empty() => Notifier::to(&name).unwrap_or_else(|err| {
                tracing::warn!(socket = %name, error = %err, "systemd notify socket unusable");
                Notifier::none()
            }),
            _ => Notifier::none(),
        }
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier { target: None }
    }

    /// Notifications to `name`: a filesystem path, or `@name` for the abstract namespace.
    pub fn to(name: &str) -> io::Result<Notifier> {
        let addr = socket_addr(name)?;
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier {
            target: Some((socket, addr)),
        })
    }

    /// True when systemd is listening.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=value` assignments).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some((socket, addr)) = &self.target else {
            return Ok(());
        };
        let sent = socket.send_to_addr(state.as_bytes(), addr)?;
        if sent != state.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "notification truncated",
            ));
        }
        Ok(())
    }

    /// Start-up is complete: SIP is bound and the queue is open.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// The service is alive and healthy.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Shutdown has begun.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// A free-form status line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Notifications are best effort: a lost one is logged, never fatal.
    fn send(&self, state: &str) {
        if let Err(err) = self.notify(state) {
            debug!(error = %err, "systemd notification not sent");
        }
    }
}

/// Pings the watchdog only while every critical service runs; false when it did not.
pub fn ping_if_healthy(notifier: &Notifier, services: &ServiceStatuses) -> bool {
    let healthy = services.healthy();
    if healthy {
        notifier.watchdog();
    }
    healthy
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, when it is meant for this
/// process (`$WATCHDOG_PID` unset or ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(&usec, pid.as_deref(), std::process::id())
}

fn watchdog_interval_from(usec: &str, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    let usec: u64 = usec.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

fn socket_addr(name: &str) -> io::Result<SocketAddr> {
    match name.strip_prefix('@') {
        Some(abstract_name) => abstract_addr(abstract_name.as_bytes()),
        None => SocketAddr::from_pathname(name),
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux only",
    ))
}

/// `STATUS=` takes one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notifications_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::to(path.to_str().unwrap()).unwrap();
        assert!(notifier.is_enabled());
        notifier.ready("listening on udp://127.0.0.1:5060");
        assert_eq!(
            receive(&listener),
            "READY=1\nSTATUS=listening on udp://127.0.0.1:5060"
        );
        notifier.watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
        notifier.stopping("finishing 2 calls\nthen exiting");
        assert_eq!(
            receive(&listener),
            "STOPPING=1\nSTATUS=finishing 2 calls then exiting"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn notifications_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("callbox-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier::to(&format!("@{name}")).unwrap();
        notifier.status("3 calls in progress");
        assert_eq!(receive(&listener), "STATUS=3 calls in progress");
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_pinged_only_while_critical_services_run() {
        use crate::app::supervisor::{RestartPolicy, Service, Supervisor};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let notifier = Notifier::to(path.to_str().unwrap()).unwrap();
        let statuses = ServiceStatuses::default();
        let mut sup = Supervisor::new(RestartPolicy::default(), statuses.clone());
        let (fail_tx, fail_rx) = tokio::sync::watch::channel(false);
        sup.spawn(
            Service::new("sip", move |token| {
                let mut fail = fail_rx.clone();
                Box::pin(async move {
                    tokio::select! {
                        _ = fail.wait_for(|f| *f) => anyhow::bail!("socket gone"),
                        () = token.cancelled() => Ok(()),
                    }
                })
            })
            .critical(),
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(ping_if_healthy(&notifier, &statuses));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("a ping while healthy");
        assert_eq!(&buf[..n], b"WATCHDOG=1");

        fail_tx.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!ping_if_healthy(&notifier, &statuses));
        assert!(
            listener.recv(&mut buf).is_err(),
            "no ping while sip restarts"
        );
        sup.shutdown(Duration::from_secs(1)).await;
    }

    #[test]
    fn no_socket_sends_nothing_and_does_not_fail() {
        let notifier = Notifier::none();
        assert!(!notifier.is_enabled());
        assert!(notifier.notify("READY=1").is_ok());
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let notifier = Notifier::to("/nonexistent/callbox/notify.sock").unwrap();
        assert!(notifier.notify("READY=1").is_err());
    }

    #[test]
    fn the_watchdog_is_pinged_at_half_its_timeout_for_this_process_only() {
        assert_eq!(
            watchdog_interval_from("30000000", None, 42),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval_from("30000000", Some("42"), 42),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval_from("30000000", Some("41"), 42), None);
        assert_eq!(watchdog_interval_from("0", None, 42), None);
        assert_eq!(watchdog_interval_from("soon", None, 42), None);
    }
}

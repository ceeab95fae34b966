//! The process's log: stderr, filtered by `log.filter` or `$CALLBOX_LOG`.

/// Logs go to stderr, without colour or timestamps when journald is reading them (it adds
/// its own).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLBOX_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let result = if under_journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        eprintln!("callbox: logging was already initialised");
    }
}

/// Logs every warning of the configuration (logging must have started) and returns them for
/// the status.
pub fn log_config_warnings(config: &crate::config::Config) -> Vec<String> {
    config
        .warnings()
        .into_iter()
        .map(|issue| {
            tracing::warn!(key = %issue.key, "config: {}", issue.reason);
            issue.to_string()
        })
        .collect()
}

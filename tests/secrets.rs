//! Secrets never show: with every secret set — some in files (`X_file` in the TOML,
//! `CALLBOX_…_FILE`, a systemd credential), some in the environment — `callbox config show`,
//! `callbox config check`, the log of `callbox run` at debug level (with the ServiceTitan
//! sync talking to the test server and a call queued as a voicemail), the call record, a
//! queue export and every file in the data directory contain none of the values.

mod common;
mod support;

use common::{callbox_bin, serial, Daemon, DaemonConfig, Sipp};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::st_server::seed::hvac_shop;
use support::st_server::{StServer, StServerConfig};

const APP_KEY: &str = "ak-9f3e1c77-secret-app-key";
const CLIENT_ID: &str = "cid-5d0a4b21-secret-client-id";
const CLIENT_SECRET: &str = "cs-2b8c6e90-secret-client-secret";
const WEBHOOK_TOKEN: &str = "tok-7a1f0d3e-secret-webhook-token";
const SIP_PASSWORD: &str = "pw-4c9e2a18-secret-sip-password";
const SMS_TOKEN: &str = "sms-6e2d9b40-secret-auth-token";

const SECRETS: [(&str, &str); 6] = [
    ("servicetitan.app_key", APP_KEY),
    ("servicetitan.client_id", CLIENT_ID),
    ("servicetitan.client_secret", CLIENT_SECRET),
    ("alerts.webhook_token", WEBHOOK_TOKEN),
    ("sip.accounts[0].password", SIP_PASSWORD),
    ("sms.auth_token", SMS_TOKEN),
];

/// Panics naming the secret (by key) that `what` shows.
fn assert_no_secret(what: &str, text: &str) {
    for (key, value) in SECRETS {
        // A prefix too: a truncated or partly masked value is still a leak.
        assert!(
            !text.contains(value) && !text.contains(&value[..12]),
            "{what} shows the value of {key}:\n{text}"
        );
    }
}

/// Writes a secret as an installer should: mode 0600 (callbox warns about looser ones).
fn write_secret(path: &Path, value: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{value}\n")).expect("write secret file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// Every file below `dir` (queue, mirror, cache, call records, recordings).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    assert!(
        out.len() > 3,
        "too few files under {}: {out:?}",
        dir.display()
    );
    out
}

/// Runs `callbox --config <config> <args>` with the daemon's environment.
fn callbox(config: &Path, env: &[(String, String)], args: &[&str]) -> (bool, String) {
    let out = Command::new(callbox_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CALLBOX_LOG", "debug")
        .output()
        .expect("run callbox");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn no_secret_shows_in_config_show_check_or_the_debug_log() {
    let _serial = serial();
    let server = StServer::start_seeded(
        StServerConfig {
            app_key: APP_KEY.into(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            ..StServerConfig::default()
        },
        hvac_shop(&StServerConfig::default()),
    );
    let secrets = tempfile::tempdir().expect("tempdir");
    let credentials = secrets.path().join("credentials");
    std::fs::create_dir(&credentials).expect("credentials dir");
    // A systemd credential, a file named in the TOML, a file named by the environment, the
    // environment itself, and a SIP password from a file.
    write_secret(
        &credentials.join("servicetitan.client_secret"),
        CLIENT_SECRET,
    );
    let client_id_file = secrets.path().join("client_id");
    write_secret(&client_id_file, CLIENT_ID);
    let token_file = secrets.path().join("webhook_token");
    write_secret(&token_file, WEBHOOK_TOKEN);
    let password_file = secrets.path().join("ht813");
    write_secret(&password_file, SIP_PASSWORD);

    let mut account = toml::Table::new();
    account.insert("username".into(), "ht813".into());
    account.insert(
        "password_file".into(),
        password_file.to_string_lossy().as_ref().into(),
    );
    let env = vec![
        (
            "CALLBOX_SERVICETITAN_APP_KEY".to_string(),
            APP_KEY.to_string(),
        ),
        (
            "CALLBOX_ALERTS_WEBHOOK_TOKEN_FILE".to_string(),
            token_file.to_string_lossy().into_owned(),
        ),
        ("CALLBOX_SMS_AUTH_TOKEN".to_string(), SMS_TOKEN.to_string()),
        (
            "CREDENTIALS_DIRECTORY".to_string(),
            credentials.to_string_lossy().into_owned(),
        ),
    ];
    // Without a voice every call's recording is queued as a voicemail: a queue record to export.
    let mut cfg = DaemonConfig::new()
        .set("call.mode", "dialog")
        .set("voice.program", "/nonexistent/espeak-ng")
        .set(
            "sip.accounts",
            toml::Value::Array(vec![toml::Value::Table(account)]),
        )
        .set("servicetitan.enabled", true)
        .set("servicetitan.environment", "custom")
        .set("servicetitan.api_url", server.base_url())
        .set("servicetitan.auth_url", server.auth_url())
        .set("servicetitan.tenant_id", server.tenant_id())
        .set(
            "servicetitan.external_data_guid",
            "6a1d3c2e-8f4b-4e2a-9c1d-0b5e7f9a2c41",
        )
        .set("servicetitan.fallback_on_rejection", "none")
        .set(
            "servicetitan.client_id_file",
            client_id_file.to_string_lossy().as_ref(),
        )
        .set("alerts.webhook_url", "http://127.0.0.1:9/callbox-alerts")
        .set("sms.gateway", "twilio")
        .set("sms.base_url", "http://127.0.0.1:9")
        .set("sms.account_sid", "AC0123456789")
        .set("sms.from", "+13125550100");
    for (k, v) in &env {
        cfg = cfg.env(k, v);
    }
    let mut daemon = Daemon::start(cfg.env("CALLBOX_LOG", "debug"));

    // The sync really used the credentials: the test server issued a token for them.
    let deadline = Instant::now() + common::scaled(Duration::from_secs(10));
    while server.tokens_issued() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.tokens_issued() > 0,
        "no token was issued: the secrets did not reach the sync\n{}",
        daemon.log_tail(50)
    );
    let run = Sipp::new(daemon.sip, "call_audio.xml").run();
    run.assert_ok(&daemon);
    let record = daemon.one_record();
    assert_no_secret("the call record", &record.to_string());
    std::thread::sleep(common::scaled(Duration::from_secs(2)));
    daemon.assert_alive();

    let (ok, shown) = callbox(&daemon.config_path, &env, &["config", "show"]);
    assert!(ok, "config show failed:\n{shown}");
    assert_no_secret("config show", &shown);
    for key in [
        "app_key",
        "client_id",
        "client_secret",
        "webhook_token",
        "password",
        "auth_token",
    ] {
        assert!(
            shown.contains(&format!("{key} = \"set\"")),
            "config show does not say {key} is set:\n{shown}"
        );
    }

    let config_arg = daemon.config_path.to_string_lossy().into_owned();
    let (ok, checked) = callbox(&daemon.config_path, &env, &["config", "check", &config_arg]);
    assert!(ok, "config check failed:\n{checked}");
    assert_no_secret("config check", &checked);

    daemon.stop();
    let export = daemon.dir.path().join("queue-export.jsonl");
    let export_arg = export.to_string_lossy().into_owned();
    let (ok, text) = callbox(&daemon.config_path, &env, &["queue", "export", &export_arg]);
    assert!(ok, "queue export failed:\n{text}");
    let exported = std::fs::read_to_string(&export).expect("read the export");
    assert!(
        exported.contains("voicemail"),
        "nothing was exported:\n{exported}"
    );
    assert_no_secret("the queue export", &exported);
    for file in files_under(&daemon.data_dir) {
        let bytes = std::fs::read(&file).expect("read a data file");
        assert_no_secret(
            &format!("{}", file.display()),
            &String::from_utf8_lossy(&bytes),
        );
    }
    let log = daemon.log();
    assert!(
        log.contains("DEBUG"),
        "the log is not at debug level:\n{log}"
    );
    assert_no_secret("the debug log of callbox run", &log);
}

#[test]
fn a_missing_secret_file_is_named_by_key_without_a_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("callbox.toml");
    std::fs::write(
        &config,
        "[servicetitan]\nclient_secret_file = \"/nonexistent/callbox-cs\"\n",
    )
    .expect("write config");
    let (ok, text) = callbox(&config, &[], &["config", "show"]);
    assert!(
        !ok,
        "config show accepted an unreadable secret file:\n{text}"
    );
    assert!(
        text.contains("servicetitan.client_secret_file")
            && text.contains("/nonexistent/callbox-cs"),
        "{text}"
    );
}

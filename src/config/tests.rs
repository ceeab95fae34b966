use std::path::{Path, PathBuf};

use super::check::{check_structure, edit_distance, key_template};
use super::*;

const EXAMPLE: &str = include_str!("../../firmware/etc/callbox/callbox.toml");

fn errors(text: &str) -> Vec<ConfigIssue> {
    check(text)
        .into_iter()
        .filter(ConfigIssue::is_error)
        .collect()
}

/// Asserts `text` yields an error on `key` whose reason contains `reason`.
fn assert_error(text: &str, key: &str, reason: &str) {
    let issues = errors(text);
    assert!(
        issues
            .iter()
            .any(|i| i.key == key && i.reason.contains(reason)),
        "expected `{key}: …{reason}…` for {text:?}, got {issues:#?}"
    );
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with(
        None,
        Path::new("/nonexistent/callbox.toml"),
        &env(pairs),
        None,
    )
}

#[test]
fn defaults_have_no_issues() {
    assert_eq!(Config::default().validate(), vec![]);
    assert_eq!(check(""), vec![]);
}

/// Where the example reads the ATA's password (the package makes the file).
const EXAMPLE_ATA_PASSWORD_FILE: &str = "password_file = \"/etc/callbox/sip-ata.password\"";

/// The example with the ATA's password in a private file of the test's own.
fn example_with_password_file(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("sip-ata.password");
    std::fs::write(&path, "generated-by-postinst\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(EXAMPLE.contains(EXAMPLE_ATA_PASSWORD_FILE));
    EXAMPLE.replace(
        EXAMPLE_ATA_PASSWORD_FILE,
        &format!("password_file = \"{}\"", path.display()),
    )
}

#[test]
fn example_parses_to_defaults_except_deliberate_differences() {
    let text = EXAMPLE.replace(EXAMPLE_ATA_PASSWORD_FILE, "password = \"x\"");
    let parsed: Config = toml::from_str(&text).unwrap();
    let mut expected = Config::default();
    expected.storage.data_dir = PathBuf::from("/var/lib/callbox");
    expected.sip.listen = "0.0.0.0:5060".parse().unwrap();
    // The safest mode the HT813 supports: the ATA only, registered, and authenticated.
    expected.sip.allowed_peers = vec!["192.168.1.20/32".parse().unwrap()];
    expected.sip.require_registration = true;
    expected.sip.require_invite_auth = true;
    expected.sip.accounts = vec![crate::telephony::settings::SipAccount {
        username: "ht813".into(),
        password: "x".into(),
    }];
    assert_eq!(parsed, expected);
}

#[test]
fn example_passes_check_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(&example_with_password_file(dir.path())), vec![]);
}

#[test]
fn registration_and_invite_auth_need_an_account() {
    assert_error(
        "[sip]\nrequire_registration = true",
        "sip.require_registration",
        "needs at least one of sip.accounts",
    );
    assert_error(
        "[sip]\nrequire_invite_auth = true",
        "sip.require_invite_auth",
        "needs at least one of sip.accounts",
    );
}

#[test]
fn example_documents_every_key_with_its_env_var() {
    // Uncomment `# key = value` and `# [[table]]` lines: then every key must be present,
    // in the right section, and of the right type.
    let uncommented: String = EXAMPLE
        .replace(EXAMPLE_ATA_PASSWORD_FILE, "password = \"x\"")
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with("[[")
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut table: toml::Table = uncommented.parse().unwrap();
    assert_eq!(check_structure(&mut table), vec![]);
    for (section, keys) in key_template() {
        let keys = keys.as_table().unwrap();
        for key in keys.keys() {
            assert!(
                table.get(&section).and_then(|s| s.get(key)).is_some(),
                "{section}.{key} is not in the example file"
            );
            let var = env_var_name(&section, key);
            assert!(EXAMPLE.contains(&var), "{var} is not in the example file");
        }
    }
}

#[test]
fn alerts_are_validated_with_key_and_reason() {
    for (text, key, reason) in [
        (
            "[alerts]\nformat = \"slack\"",
            "alerts.format",
            "not one of json, ntfy",
        ),
        (
            "[alerts]\nwebhook_url = \"hooks.example.com/x\"",
            "alerts.webhook_url",
            "not a URL",
        ),
        (
            "[alerts]\nwebhook_url = \"http://hooks.example.com/x\"",
            "alerts.webhook_url",
            "plain http",
        ),
        (
            "[alerts]\nwebhook_url = \"https://ntfy.sh/\"\nformat = \"ntfy\"",
            "alerts.webhook_url",
            "topic",
        ),
        (
            "[alerts]\nwebhook_token = \"abc\"",
            "alerts.webhook_token",
            "webhook_url is empty",
        ),
        (
            "[alerts]\nwebhook_url = \"https://x.example/h\"\nwebhook_token = \"abc\\n\"",
            "alerts.webhook_token",
            "control characters",
        ),
        (
            "[alerts]\nfallback_phone = \"312-555-0100\"",
            "alerts.fallback_phone",
            "E.164",
        ),
        (
            "[alerts]\ntimeout_secs = 0",
            "alerts.timeout_secs",
            "greater than 0",
        ),
        (
            "[alerts]\nretry_max_secs = 0",
            "alerts.retry_max_secs",
            "greater than 0",
        ),
        ("[alerts]\nwebhook = \"x\"", "alerts.webhook", "unknown key"),
    ] {
        assert_error(text, key, reason);
    }
    let good = "[alerts]\nwebhook_url = \"https://ntfy.sh/acme-oncall-7f3k\"\n\
                format = \"ntfy\"\nfallback_name = \"Mike\"\n\
                fallback_phone = \"+13125550100\"";
    assert_eq!(check(good), vec![]);
}

#[test]
fn alerts_token_comes_from_the_environment() {
    let c = load_env(&[
        (
            "CALLBOX_ALERTS_WEBHOOK_URL",
            "https://hooks.example.com/oncall",
        ),
        ("CALLBOX_ALERTS_WEBHOOK_TOKEN", "tok-123"),
    ])
    .unwrap();
    assert_eq!(c.alerts.webhook_token.expose(), "tok-123");
    let err = load_env(&[("CALLBOX_ALERTS_FORMAT", "sms")]).unwrap_err();
    assert!(err.to_string().contains("alerts.format"), "{err}");
}

#[test]
fn key_template_covers_optional_keys() {
    let t = key_template();
    assert!(t["sip"].get("public_address").is_some());
    assert!(t["sip"].get("accounts").is_some());
    assert!(t["call"].get("greeting_wav").is_some());
    assert!(t["servicetitan"].get("booking_provider_id").is_some());
    assert!(t["servicetitan"].get("job_types").is_some());
}

const ST_ENABLED: &str = "[servicetitan]\nenabled = true\nenvironment = \"integration\"\n\
    tenant_id = 123\napp_key = \"ak\"\nclient_id = \"cid\"\nclient_secret = \"cs\"\n\
    external_data_guid = \"0f8fad5b-d9cb-469f-a165-70867728950e\"\n\
    booking_provider_id = 7\njob_types = { no_heat = 101, no_cooling = 102 }\n";

#[test]
fn servicetitan_enabled_config_is_valid_and_parses() {
    assert_eq!(errors(ST_ENABLED), vec![]);
    let c: Config = toml::from_str(ST_ENABLED).unwrap();
    assert_eq!(c.servicetitan.job_types["no_cooling"], 102);
    assert_eq!(
        c.servicetitan.environment().unwrap(),
        crate::servicetitan::settings::Environment::Integration
    );
    assert_eq!(
        c.servicetitan.on_call_policy(),
        Some(OnCallPolicy::WhenRequested)
    );
    assert_eq!(
        c.servicetitan.rejection_fallback(),
        Some(RejectionFallback::Booking)
    );
}

#[test]
fn servicetitan_rules() {
    let cases: &[(&str, &str, &str)] = &[
        ("[servicetitan]\nenabled = true", "servicetitan.tenant_id", "must be set"),
        ("[servicetitan]\nenabled = true", "servicetitan.client_secret", "CALLBOX_SERVICETITAN_CLIENT_SECRET"),
        ("[servicetitan]\nenabled = true", "servicetitan.external_data_guid", "GUID"),
        ("[servicetitan]\nenabled = true", "servicetitan.booking_provider_id", "booking"),
        ("[servicetitan]\nenvironment = \"staging\"", "servicetitan.environment", "not one of"),
        (
            "[servicetitan]\nenvironment = \"custom\"\nauth_url = \"http://10.1.2.3\"\napi_url = \"https://x.example\"",
            "servicetitan.api_url",
            "loopback",
        ),
        ("[servicetitan]\nmax_requests_per_second = 61", "servicetitan.max_requests_per_second", "between 1 and 60"),
        ("[servicetitan]\nmax_requests_per_second = 0", "servicetitan.max_requests_per_second", "between 1 and 60"),
        ("[servicetitan]\napi_timeout_secs = 0", "servicetitan.api_timeout_secs", "greater than 0"),
        ("[servicetitan]\nassign_on_call_technician = \"sometimes\"", "servicetitan.assign_on_call_technician", "not one of"),
        ("[servicetitan]\nfallback_on_rejection = \"email\"", "servicetitan.fallback_on_rejection", "not one of"),
        ("[servicetitan]\njob_types = { no_heat = 0 }", "servicetitan.job_types.no_heat", "job type id"),
        ("[servicetitan]\ndefault_campaign_id = -1", "servicetitan.default_campaign_id", "> 0"),
        ("[servicetitan]\ncustomer_details_refresh_secs = 0", "servicetitan.customer_details_refresh_secs", "greater than 0"),
        ("[servicetitan]\ncustomer_details_days_ahead = 0", "servicetitan.customer_details_days_ahead", "between 1 and 31"),
        ("[servicetitan]\ncustomer_details_days_ahead = 45", "servicetitan.customer_details_days_ahead", "between 1 and 31"),
        ("[servicetitan]\nretry_after_cap_secs = 0", "servicetitan.retry_after_cap_secs", "between 1 and 86400"),
        ("[servicetitan]\nretry_after_cap_secs = 86401", "servicetitan.retry_after_cap_secs", "between 1 and 86400"),
    ];
    for (text, key, reason) in cases {
        assert_error(text, key, reason);
    }
    let custom = "[servicetitan]\nenvironment = \"custom\"\nauth_url = \"http://127.0.0.1:9\"\napi_url = \"http://127.0.0.1:9\"";
    assert_eq!(errors(custom), vec![]);
}

#[test]
fn servicetitan_secret_from_environment() {
    let c = load_env(&[
        ("CALLBOX_SERVICETITAN_CLIENT_SECRET", "s3cret"),
        ("CALLBOX_SERVICETITAN_TENANT_ID", "42"),
    ])
    .unwrap();
    assert_eq!(c.servicetitan.client_secret.expose(), "s3cret");
    assert_eq!(c.servicetitan.tenant_id, 42);
}

#[test]
fn semantic_rules() {
    let cases: &[(&str, &str, &str)] = &[
        ("[sip]\nlisten = \"0.0.0.0:0\"", "sip.listen", "port must not be 0"),
        ("[sip]\npublic_address = \"0.0.0.0\"", "sip.public_address", "cannot be reached"),
        ("[sip]\nallowed_peers = []", "sip.allowed_peers", "at least one"),
        ("[sip]\nmax_concurrent_calls = 0", "sip.max_concurrent_calls", "at least 1"),
        ("[sip]\nuser = \"a@b\"", "sip.user", "bare SIP user"),
        ("[sip]\nuser_agent = \"x\\r\\nVia: evil\"", "sip.user_agent", "control"),
        ("[sip]\nmax_register_expires = 0", "sip.max_register_expires", "greater than 0"),
        ("[sip]\nmax_message_bytes = 100", "sip.max_message_bytes", "between 1024 and 65507"),
        (
            "[sip]\nrealm = \"\"\n[[sip.accounts]]\nusername = \"a\"\npassword = \"b\"",
            "sip.realm",
            "must not be empty",
        ),
        (
            "[[sip.accounts]]\nusername = \"\"\npassword = \"b\"",
            "sip.accounts[0].username",
            "must not be empty",
        ),
        (
            "[[sip.accounts]]\nusername = \"a\"\npassword = \"b\"\n[[sip.accounts]]\nusername = \"a\"\npassword = \"c\"",
            "sip.accounts[1].username",
            "duplicate username `a`",
        ),
        ("[media]\ncodecs = []", "media.codecs", "at least one"),
        ("[media]\ncodecs = [\"PCMU\", \"PCMA\", \"PCMU\"]", "media.codecs", "PCMU is listed twice"),
        ("[media]\nrtp_port_min = 1000", "media.rtp_port_min", "at least 1024"),
        ("[media]\nrtp_port_min = 10001", "media.rtp_port_min", "must be even"),
        (
            "[media]\nrtp_port_min = 10000\nrtp_port_max = 9000",
            "media.rtp_port_min",
            "must be less than media.rtp_port_max (10000 >= 9000)",
        ),
        (
            "[media]\nrtp_port_min = 10000\nrtp_port_max = 10001\n[sip]\nmax_concurrent_calls = 2",
            "media.rtp_port_max",
            "1 RTP/RTCP port pairs",
        ),
        ("[media]\ntelephone_event_payload_type = 95", "media.telephone_event_payload_type", "96..=127"),
        ("[media]\ntelephone_event_payload_type = 128", "media.telephone_event_payload_type", "96..=127"),
        ("[media]\njitter_buffer_frames = 0", "media.jitter_buffer_frames", "between 1 and 10"),
        ("[media]\njitter_buffer_frames = 11", "media.jitter_buffer_frames", "between 1 and 10"),
        ("[media]\nrtp_timeout_secs = 0", "media.rtp_timeout_secs", "greater than 0"),
        ("[call]\nmax_call_secs = 0", "call.max_call_secs", "greater than 0"),
        ("[call]\nidle_timeout_secs = 0", "call.idle_timeout_secs", "greater than 0"),
        ("[call]\nhangup_digit = \"x\"", "call.hangup_digit", "not a DTMF digit"),
        ("[call]\nhangup_digit = \"a\"", "call.hangup_digit", "not a DTMF digit"),
        ("[call]\ngreeting_wav = \"/nonexistent/hello.wav\"", "call.greeting_wav", "does not exist"),
        ("[call]\ngreeting_wav = \"\"", "call.greeting_wav", "is empty"),
        ("[call]\nmode = \"chat\"", "call.mode", "chat"),
        ("[voice]\nengine = \"festival\"", "voice.engine", "festival"),
        ("[voice]\nvoice = \"-x\"", "voice.voice", "not a voice name"),
        ("[voice]\nspanish_voice = \"es x\"", "voice.spanish_voice", "not a voice name"),
        ("[voice]\nrate_wpm = 20", "voice.rate_wpm", "between 80 and 450"),
        ("[voice]\ngain_db = 40.0", "voice.gain_db", "between -30 and 20"),
        ("[voice]\nprompt_cache_dir = \"\"", "voice.prompt_cache_dir", "is empty"),
        ("[audio]\necho_margin_db = -1.0", "audio.echo_margin_db", "between 0 and 30"),
        ("[audio]\nbarge_in_frames = 0", "audio.barge_in_frames", "between 1 and 5"),
        ("[audio]\nalsa_device = \" \"", "audio.alsa_device", "not a PCM device"),
        ("[shop]\ndefault_country = \"XX\"", "shop.default_country", "unsupported country `XX`"),
        ("[shop]\ntimezone = \"CST\"", "shop.timezone", "not an IANA timezone"),
        ("[shop]\ntimezone = \"Chicago\"", "shop.timezone", "not an IANA timezone"),
        ("[shop]\ntimezone = \"Mars/Olympus\"", "shop.timezone", "not an IANA timezone"),
        ("[storage]\ndata_dir = \"\"", "storage.data_dir", "must not be empty"),
        ("[log]\nfilter = \"\"", "log.filter", "must not be empty"),
        ("[queue]\nretention_days = 0", "queue.retention_days", "at least 1"),
        ("[queue]\nretention_days = 9999", "queue.retention_days", "at most 3650"),
        (
            "[queue]\nmax_attempts_before_attention = 0",
            "queue.max_attempts_before_attention",
            "at least 1",
        ),
        ("[queue]\nmirror_max_bytes = 1000", "queue.mirror_max_bytes", "at least 65536"),
        ("[queue]\nmirror_keep_files = 0", "queue.mirror_keep_files", "at least 1"),
        ("[log]\nfilter = \"callbox=loud\"", "log.filter", "not a valid tracing filter"),
        ("[triage]\ncold_threshold_f = -60", "triage.cold_threshold_f", "between -40 and 130"),
        ("[triage]\nhot_threshold_f = 300", "triage.hot_threshold_f", "between -40 and 130"),
        (
            "[triage]\ncold_threshold_f = 95\nhot_threshold_f = 90",
            "triage.cold_threshold_f",
            "must be below triage.hot_threshold_f",
        ),
        ("[triage]\nvulnerable_words = [\"Grandma\"]", "triage.vulnerable_words[0]", "lowercase"),
        ("[triage]\nvulnerable_words = [\" \"]", "triage.vulnerable_words[0]", "lowercase"),
    ];
    for (text, key, reason) in cases {
        assert_error(text, key, reason);
    }
}

#[test]
fn accepted_values() {
    for text in [
        "[call]\nhangup_digit = \"*\"",
        "[call]\nhangup_digit = \"D\"",
        "[shop]\ntimezone = \"UTC\"",
        "[triage]\ncold_threshold_f = 35\nhot_threshold_f = 95",
        "[triage]\ncold_threshold_f = 32.5\nvulnerable_words = [\"dialysis\", \"heart condition\"]",
        "[shop]\ntimezone = \"America/Argentina/Buenos_Aires\"",
        "[shop]\ntimezone = \"Etc/GMT+5\"",
        "[shop]\ndefault_country = \"gb\"",
        "[media]\nrtp_port_min = 1024\nrtp_port_max = 1027",
        "[sip]\nlisten = \"[::]:5060\"\nallowed_peers = [\"192.168.1.20\", \"fd00::/8\"]",
    ] {
        assert_eq!(errors(text), vec![], "{text}");
    }
}

#[test]
fn warnings_are_not_errors() {
    let issues = check("[sip]\nallowed_peers = [\"0.0.0.0/0\"]\n[shop]\nname = \"\"");
    assert_eq!(issues.len(), 2, "{issues:#?}");
    assert!(issues.iter().all(|i| !i.is_error()));
    assert!(issues.iter().any(|i| i.key == "sip.allowed_peers"));
}

#[test]
fn greeting_wav_that_exists_is_fine() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let text = format!("[call]\ngreeting_wav = {:?}", file.path().to_str().unwrap());
    assert_eq!(errors(&text), vec![]);
}

#[test]
fn all_errors_are_collected() {
    let text = "[sip]\nlisen = \"0.0.0.0:5060\"\nmax_concurrent_calls = \"two\"\n\
                [media]\njitter_buffer_frames = 0\nrtp_timeout_secs = 0\n\
                [call]\nhangup_digit = \"x\"\n[bogus]\nx = 1";
    let keys: Vec<String> = errors(text).into_iter().map(|i| i.key).collect();
    for key in [
        "sip.lisen",
        "sip.max_concurrent_calls",
        "media.jitter_buffer_frames",
        "media.rtp_timeout_secs",
        "call.hangup_digit",
        "bogus",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
}

#[test]
fn unknown_key_suggests_the_right_one() {
    assert_error(
        "[sip]\nlisen = \"0.0.0.0:5060\"",
        "sip.lisen",
        "unknown key `sip.lisen` (did you mean `listen`?)",
    );
    assert_error(
        "[media]\nlisten = \"0.0.0.0:5060\"",
        "media.listen",
        "(did you mean `sip.listen`?)",
    );
    assert_error(
        "[mdia]\ncodecs = []",
        "mdia",
        "unknown section `[mdia]` (did you mean `media`?)",
    );
    assert_error(
        "[sip]\nzzzzzz = 1",
        "sip.zzzzzz",
        "unknown key `sip.zzzzzz`",
    );
    assert_error("sip = 5", "sip", "must be a table");
}

#[test]
fn type_errors_name_the_key() {
    assert_error(
        "[sip]\nlisten = \"garbage\"",
        "sip.listen",
        "invalid socket address",
    );
    assert_error(
        "[sip]\nallowed_peers = [\"300.1.1.1/8\"]",
        "sip.allowed_peers",
        "",
    );
    assert_error("[media]\ncodecs = [\"G729\"]", "media.codecs", "G729");
    assert_error("[media]\nrtp_port_min = 70000", "media.rtp_port_min", "");
    assert_error("[media]\ninband_dtmf = \"yes\"", "media.inband_dtmf", "");
    assert_error(
        "[[sip.accounts]]\nusername = \"a\"",
        "sip.accounts",
        "password",
    );
}

#[test]
fn syntax_errors_name_the_line_and_key() {
    assert_error("[sip]\nlisten = \"0.0.0.0:5060\n", "sip.listen", "line 2");
    assert_error("[media]\ncodecs = [\"PCMU\",", "media.codecs", "line 2");
    assert_error("[sip\n", "sip", "invalid table header; expected");
    assert_error("= 1\n", "line 1", "line 1");
}

#[test]
fn corrupt_files_give_errors_not_panics() {
    let issues = check_bytes(&[0xff, 0xfe, 0x00, 0x01, 0x80]);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].reason.contains("not UTF-8"), "{issues:?}");
    assert!(!errors("\0\u{1}\u{2}binary").is_empty());
    // Every truncation of the example either checks clean or reports errors; never panics.
    let mut truncated_with_errors = 0;
    // Every 7th byte keeps this quick in debug builds while hitting every line and token kind.
    for end in (0..EXAMPLE.len())
        .step_by(7)
        .filter(|&i| EXAMPLE.is_char_boundary(i))
    {
        if !errors(&EXAMPLE[..end]).is_empty() {
            truncated_with_errors += 1;
        }
    }
    assert!(truncated_with_errors > 0);
}

#[test]
fn issue_display() {
    let issue = errors("[media]\nrtp_port_min = 10000\nrtp_port_max = 9000")
        .into_iter()
        .find(|i| i.key == "media.rtp_port_min")
        .unwrap();
    assert_eq!(
        issue.to_string(),
        "media.rtp_port_min: must be less than media.rtp_port_max (10000 >= 9000)"
    );
}

#[test]
fn env_overrides_single_keys() {
    let c = load_env(&[
        ("CALLBOX_SIP_LISTEN", "0.0.0.0:5070"),
        ("CALLBOX_STORAGE_DATA_DIR", "/var/lib/callbox"),
        ("CALLBOX_SIP_ALLOWED_PEERS", "192.168.1.20, 10.0.0.0/24"),
        ("CALLBOX_MEDIA_CODECS", "PCMA,PCMU"),
        ("CALLBOX_MEDIA_INBAND_DTMF", "no"),
        ("CALLBOX_SIP_MAX_CONCURRENT_CALLS", "4"),
        ("CALLBOX_SIP_PUBLIC_ADDRESS", "192.168.1.10"),
        ("CALLBOX_CALL_HANGUP_DIGIT", "*"),
        ("CALLBOX_SHOP_NAME", "Cool Air HVAC"),
        (
            "CALLBOX_SIP_ACCOUNTS",
            r#"[{username = "ht813", password = "pw"}]"#,
        ),
        // Not a config key: belongs to the CLI, must be ignored.
        ("CALLBOX_CONFIG", "/tmp/x.toml"),
        ("PATH", "/usr/bin"),
    ])
    .unwrap();
    assert_eq!(c.sip.listen, "0.0.0.0:5070".parse().unwrap());
    assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/callbox"));
    assert_eq!(
        c.sip.allowed_peers,
        vec![
            "192.168.1.20/32".parse().unwrap(),
            "10.0.0.0/24".parse().unwrap()
        ]
    );
    assert_eq!(c.media.codecs, vec![Codec::Pcma, Codec::Pcmu]);
    assert!(!c.media.inband_dtmf);
    assert_eq!(c.sip.max_concurrent_calls, 4);
    assert_eq!(c.sip.public_address, Some("192.168.1.10".parse().unwrap()));
    assert_eq!(c.call.hangup_digit, '*');
    assert_eq!(c.shop.name, "Cool Air HVAC");
    assert_eq!(c.sip.accounts[0].username, "ht813");
    // Untouched keys keep their defaults.
    assert_eq!(c.media.rtp_port_min, 10000);
}

#[test]
fn env_overrides_beat_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut file,
        b"[sip]\nlisten = \"0.0.0.0:5060\"\nmax_concurrent_calls = 3\n",
    )
    .unwrap();
    let c = Config::load_with(
        Some(file.path()),
        Path::new("/nonexistent"),
        &env(&[("CALLBOX_SIP_LISTEN", "127.0.0.1:5080")]),
        None,
    )
    .unwrap();
    assert_eq!(c.sip.listen.port(), 5080);
    assert_eq!(c.sip.max_concurrent_calls, 3);
}

#[test]
fn bad_env_values_name_the_variable() {
    for (var, value, reason) in [
        ("CALLBOX_SIP_LISTEN", "nonsense", "invalid socket address"),
        (
            "CALLBOX_SIP_MAX_CONCURRENT_CALLS",
            "two",
            "not a whole number",
        ),
        ("CALLBOX_SIP_MAX_CONCURRENT_CALLS", "-1", ""),
        ("CALLBOX_MEDIA_INBAND_DTMF", "maybe", "not true or false"),
        ("CALLBOX_MEDIA_CODECS", "PCMU,G729", "G729"),
        ("CALLBOX_SIP_ALLOWED_PEERS", "10.0.0.0/33", ""),
        ("CALLBOX_CALL_HANGUP_DIGIT", "##", ""),
        ("CALLBOX_SIP_ACCOUNTS", "ht813:pw", "TOML inline array"),
        ("CALLBOX_SIP_LISEN", "0.0.0.0:5060", "did you mean `listen`"),
    ] {
        match load_env(&[(var, value)]) {
            Err(ConfigError::Env {
                var: v, reason: r, ..
            }) => {
                assert_eq!(v, var);
                assert!(r.contains(reason), "{var}={value}: {r}");
            }
            other => panic!("{var}={value}: expected Env error, got {other:?}"),
        }
    }
}

#[test]
fn env_override_that_breaks_a_rule_is_invalid() {
    let err = load_env(&[("CALLBOX_MEDIA_JITTER_BUFFER_FRAMES", "0")]).unwrap_err();
    match err {
        ConfigError::Invalid { issues, .. } => {
            assert_eq!(issues[0].key, "media.jitter_buffer_frames")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn explicit_path_must_exist() {
    let err = Config::load_with(
        Some(Path::new("/nonexistent/x.toml")),
        Path::new("/nonexistent"),
        &[],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err}");
}

#[test]
fn default_path_used_when_present_else_defaults() {
    assert_eq!(load_env(&[]).unwrap(), Config::default());
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, b"[shop]\nname = \"Acme\"\n").unwrap();
    let c = Config::load_with(None, file.path(), &[], None).unwrap();
    assert_eq!(c.shop.name, "Acme");
}

#[test]
fn bad_files_report_the_path() {
    let mut bin = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut bin, &[0xde, 0xad, 0xbe, 0xef, 0xff]).unwrap();
    let err =
        Config::load_with(Some(bin.path()), Path::new("/nonexistent"), &[], None).unwrap_err();
    assert!(matches!(err, ConfigError::NotText { .. }), "{err}");

    let mut bad = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut bad,
        b"[sip]\nlisen = 1\n[media]\njitter_buffer_frames = 0\n",
    )
    .unwrap();
    let err =
        Config::load_with(Some(bad.path()), Path::new("/nonexistent"), &[], None).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&bad.path().display().to_string()), "{text}");
    assert!(text.contains("sip.lisen"), "{text}");
}

#[test]
fn data_paths_under_data_dir() {
    let mut c = Config::default();
    c.storage.data_dir = PathBuf::from("/var/lib/callbox");
    let p = c.data_paths();
    assert_eq!(p.recordings, PathBuf::from("/var/lib/callbox/recordings"));
    assert_eq!(p.calls, PathBuf::from("/var/lib/callbox/calls"));
    assert_eq!(p.queue, PathBuf::from("/var/lib/callbox/queue"));
    let dir = tempfile::tempdir().unwrap();
    c.storage.data_dir = dir.path().join("data");
    c.data_paths().create_all().unwrap();
    assert!(dir.path().join("data/recordings").is_dir());
    assert!(dir.path().join("data/calls").is_dir());
}

#[test]
fn edit_distance_basics() {
    assert_eq!(edit_distance("lisen", "listen"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("abc", "abc"), 0);
}

#[test]
fn speech_rules() {
    assert_error(
        "[speech]\nvad_aggressiveness = 4",
        "speech.vad_aggressiveness",
        "0-3",
    );
    assert_error("[speech]\nstart_frames = 0", "speech.start_frames", "1-50");
    assert_error(
        "[speech]\ntrailing_silence_ms = 500\nshort_trailing_silence_ms = 600",
        "speech.short_trailing_silence_ms",
        "at most",
    );
    assert_error(
        "[speech]\nmax_utterance_ms = 600",
        "speech.max_utterance_ms",
        "above speech.trailing_silence_ms",
    );
    assert_error(
        "[speech]\nno_speech_timeout_ms = 0",
        "speech.no_speech_timeout_ms",
        "500",
    );
    assert_error(
        "[speech]\nmodel_dir = \"\"",
        "speech.model_dir",
        "must not be empty",
    );
    assert_error(
        "[speech]\nupsample = \"linear\"",
        "speech.upsample",
        "filter",
    );
    let c: Config = toml::from_str("[speech]\nupsample = \"vosk\"").unwrap();
    assert_eq!(c.speech.upsample, crate::speech::settings::Upsample::Vosk);
    let mut c = Config::default();
    c.storage.data_dir = PathBuf::from("/var/lib/callbox");
    assert_eq!(c.model_dir(), PathBuf::from("/var/lib/callbox/models/vosk"));
    c.speech.model_dir = PathBuf::from("/opt/model");
    assert_eq!(c.model_dir(), PathBuf::from("/opt/model"));
    assert_eq!(c.speech.endpointer().trailing_silence_ms, 700);
}

/// A temporary file holding `text`.
fn secret_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

#[cfg(unix)]
#[test]
fn a_secret_file_others_can_read_is_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let secret = secret_file("cs-open-file\n");
    let text = format!(
        "[servicetitan]\nclient_secret_file = {:?}\n",
        secret.path().to_str().unwrap()
    );
    // tempfile creates 0600: no warning.
    assert_eq!(check(&text), vec![]);
    std::fs::set_permissions(secret.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let issues = check(&text);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert!(!issues[0].is_error());
    assert_eq!(issues[0].key, "servicetitan.client_secret_file");
    assert!(issues[0].reason.contains("0644"), "{issues:#?}");
    // A warning does not stop the box from loading.
    let file = secret_file(&text);
    let c = Config::load_with(Some(file.path()), Path::new("/nonexistent"), &[], None).unwrap();
    assert_eq!(c.servicetitan.client_secret.expose(), "cs-open-file");
}

#[test]
fn secrets_come_from_files_named_in_the_toml() {
    let secret = secret_file("cs-from-file\n");
    let password = secret_file("pw-from-file\r\n");
    let text = format!(
        "[servicetitan]\nclient_secret_file = {:?}\n\
         [[sip.accounts]]\nusername = \"ht813\"\npassword_file = {:?}\n",
        secret.path().to_str().unwrap(),
        password.path().to_str().unwrap()
    );
    assert_eq!(check(&text), vec![]);
    let file = secret_file(&text);
    let c = Config::load_with(Some(file.path()), Path::new("/nonexistent"), &[], None).unwrap();
    assert_eq!(c.servicetitan.client_secret.expose(), "cs-from-file");
    assert_eq!(c.sip.accounts[0].password.expose(), "pw-from-file");
}

#[test]
fn secret_file_errors_name_the_key_and_never_the_value() {
    assert_error(
        "[alerts]\nwebhook_token_file = \"/nonexistent/token\"",
        "alerts.webhook_token_file",
        "cannot read /nonexistent/token",
    );
    let token = secret_file("tok-in-file");
    let both = format!(
        "[alerts]\nwebhook_token = \"tok-inline\"\nwebhook_token_file = {:?}",
        token.path().to_str().unwrap()
    );
    let issues = errors(&both);
    assert!(
        issues
            .iter()
            .any(|i| i.key == "alerts.webhook_token_file" && i.reason.contains("not both")),
        "{issues:#?}"
    );
    assert!(!format!("{issues:?}").contains("tok-"), "{issues:?}");
    // Only secrets may come from a file.
    assert_error(
        "[shop]\nname_file = \"/etc/hostname\"",
        "shop.name_file",
        "unknown key",
    );
    let bad = secret_file("x");
    std::fs::write(bad.path(), [0xff, 0xfe, b's', b'3']).unwrap();
    assert_error(
        &format!(
            "[servicetitan]\napp_key_file = {:?}",
            bad.path().to_str().unwrap()
        ),
        "servicetitan.app_key_file",
        "not UTF-8",
    );
}

#[test]
fn secrets_come_from_env_files_and_systemd_credentials() {
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(
        creds.path().join("servicetitan.client_secret"),
        "cs-credential\n",
    )
    .unwrap();
    std::fs::write(creds.path().join("servicetitan.app_key"), "ak-credential\n").unwrap();
    std::fs::write(
        creds.path().join("sip.accounts.ht813.password"),
        "pw-credential",
    )
    .unwrap();
    let token = secret_file("tok-env-file\n");
    let vars = env(&[
        (
            "CALLBOX_ALERTS_WEBHOOK_TOKEN_FILE",
            token.path().to_str().unwrap(),
        ),
        ("CALLBOX_ALERTS_WEBHOOK_URL", "https://hooks.example.com/x"),
        // The environment beats the credential.
        ("CALLBOX_SERVICETITAN_APP_KEY", "ak-env"),
        (
            "CALLBOX_SIP_ACCOUNTS",
            r#"[{username = "ht813", password = ""}]"#,
        ),
    ]);
    let file = secret_file("[[sip.accounts]]\nusername = \"ht813\"\npassword = \"old\"\n");
    let c = Config::load_with(
        Some(file.path()),
        Path::new("/nonexistent"),
        &vars,
        Some(creds.path()),
    )
    .unwrap();
    assert_eq!(c.alerts.webhook_token.expose(), "tok-env-file");
    assert_eq!(c.servicetitan.client_secret.expose(), "cs-credential");
    assert_eq!(c.servicetitan.app_key.expose(), "ak-env");
    // The environment's account list replaced the file's, after the credential was applied.
    assert_eq!(c.sip.accounts[0].password.expose(), "");
    let c = Config::load_with(
        Some(file.path()),
        Path::new("/nonexistent"),
        &[],
        Some(creds.path()),
    )
    .unwrap();
    assert_eq!(c.sip.accounts[0].password.expose(), "pw-credential");
}

#[test]
fn env_file_errors_name_the_variable_and_never_the_value() {
    let token = secret_file("tok-secret-value");
    let path = token.path().to_str().unwrap();
    match load_env(&[
        ("CALLBOX_ALERTS_WEBHOOK_TOKEN_FILE", path),
        ("CALLBOX_ALERTS_WEBHOOK_TOKEN", "tok-other-value"),
    ]) {
        Err(err @ ConfigError::Env { .. }) => {
            let text = err.to_string();
            assert!(text.contains("not both"), "{text}");
            assert!(!text.contains("value"), "{text}");
        }
        other => panic!("expected Env error, got {other:?}"),
    }
    match load_env(&[("CALLBOX_SERVICETITAN_CLIENT_SECRET_FILE", "/nonexistent/cs")]) {
        Err(ConfigError::Env { var, key, reason }) => {
            assert_eq!(var, "CALLBOX_SERVICETITAN_CLIENT_SECRET_FILE");
            assert_eq!(key, "servicetitan.client_secret");
            assert!(reason.contains("/nonexistent/cs"), "{reason}");
        }
        other => panic!("expected Env error, got {other:?}"),
    }
    // `_FILE` is only for secrets.
    assert!(load_env(&[("CALLBOX_SHOP_NAME_FILE", "/etc/hostname")]).is_err());
}

#[test]
fn show_and_debug_say_set_or_unset_for_every_secret() {
    let mut c = Config::default();
    c.servicetitan.app_key = "ak-visible?".into();
    c.servicetitan.client_id = "cid-visible?".into();
    c.servicetitan.client_secret = "cs-visible?".into();
    c.alerts.webhook_token = "tok-visible?".into();
    c.sip.accounts = vec![SipAccount {
        username: "ht813".into(),
        password: "pw-visible?".into(),
    }];
    let shown = format!("{}\n{c:?}", toml::to_string_pretty(&c).unwrap());
    assert!(!shown.contains("visible?"), "{shown}");
    assert!(shown.contains("client_secret = \"set\""), "{shown}");
    let shown = toml::to_string_pretty(&Config::default()).unwrap();
    assert!(shown.contains("webhook_token = \"unset\""), "{shown}");
}

#[test]
fn check_counts_secrets_from_the_environment_and_credentials() {
    let text = "[alerts]\nwebhook_url = \"https://hooks.example.com/x\"\n";
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("alerts.webhook_token"), "tok one\n").unwrap();
    // The credential is applied and validated (a space is refused), by key, without the value.
    let issues = super::check::check_with(text, &[], Some(creds.path()));
    assert!(
        issues
            .iter()
            .any(|i| i.key == "alerts.webhook_token" && i.reason.contains("spaces")),
        "{issues:#?}"
    );
    assert!(!format!("{issues:?}").contains("tok one"));
    let issues = super::check::check_with(
        text,
        &env(&[("CALLBOX_ALERTS_WEBHOOK_TOKEN_FILE", "/nonexistent/t")]),
        None,
    );
    assert!(
        issues.iter().any(|i| i.key == "alerts.webhook_token"
            && i.reason.contains("CALLBOX_ALERTS_WEBHOOK_TOKEN_FILE")),
        "{issues:#?}"
    );
}

// Recogniser memory settings (issue 18).
#[test]
fn recognizer_memory_rules() {
    assert_error(
        "[speech]\nwarm_recognizers = 9",
        "speech.warm_recognizers",
        "0-8",
    );
    assert_error(
        "[speech]\nrecycle_recognizer_after_s = 3601",
        "speech.recycle_recognizer_after_s",
        "0-3600",
    );
    assert!(errors("[speech]\nwarm_recognizers = 0\nrecycle_recognizer_after_s = 0").is_empty());
    assert_error("[speech]\nbeam = 2.5", "speech.beam", "5-30");
    assert_error(
        "[speech]\ncall_memory_mib = 5",
        "speech.call_memory_mib",
        "0 (no limit) or 20-65536",
    );
    assert!(errors("[speech]\ncall_memory_mib = 0").is_empty());
    assert!(errors("[speech]\ncall_memory_mib = 120").is_empty());
    assert!(errors("[speech]\nbeam = 9.0").is_empty());
    assert!(errors("[speech]\nbeam = 0").is_empty());
    let ok = load_env(&[
        ("CALLBOX_SPEECH_WARM_RECOGNIZERS", "3"),
        ("CALLBOX_SPEECH_RECYCLE_RECOGNIZER_AFTER_S", "0"),
    ])
    .unwrap();
    assert_eq!(ok.speech.warm_recognizers, 3);
    let policy = ok.speech.pool_policy(3);
    assert_eq!((policy.max_idle, policy.recycle_after_ms), (3, 0));
}

/// Issue 16: a job type for every hint the dialog gives, or a default, else `config check`
/// says which calls would not reach the schedule; a key the dialog never gives is named.
#[test]
fn servicetitan_job_types_cover_the_dialogs_hints() {
    let issues = check(ST_ENABLED);
    let default = issues
        .iter()
        .find(|i| i.key == "servicetitan.default_job_type_id")
        .expect("a warning on default_job_type_id");
    assert!(!default.is_error());
    for hint in ["leak", "maintenance", "noise", "thermostat"] {
        assert!(default.reason.contains(hint), "{default:?}");
    }
    assert!(!default.reason.contains("no_heat"), "{default:?}");

    let other = format!("{ST_ENABLED}[servicetitan.job_types]\nother = 105\n");
    let other = other.replace("job_types = { no_heat = 101, no_cooling = 102 }\n", "");
    let issues = check(&other);
    assert!(
        issues
            .iter()
            .any(|i| i.key == "servicetitan.job_types.other" && i.reason.contains("never")),
        "{issues:#?}"
    );

    let covered = ST_ENABLED.replace(
        "job_types = { no_heat = 101, no_cooling = 102 }\n",
        "job_types = { no_heat = 101, no_cooling = 102 }\ndefault_job_type_id = 105\n",
    );
    assert!(
        !check(&covered)
            .iter()
            .any(|i| i.key.starts_with("servicetitan.job_types")
                || i.key == "servicetitan.default_job_type_id"),
        "{:#?}",
        check(&covered)
    );
}

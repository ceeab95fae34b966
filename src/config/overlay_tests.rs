//! The page's overlay: saved changes load after the file, survive a reload, lose to the
//! environment, and secrets never land in it.

use std::path::Path;

use super::overlay::{
    overlay_path, page_secrets_dir, page_value, read_overlay, save_overlay, save_page_secret,
    with_changes,
};
use super::*;

fn config_file(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("callbox.toml");
    let text = format!(
        "[storage]\ndata_dir = {:?}\n[shop]\nname = \"From The File\"\n{extra}",
        dir.join("data").display().to_string()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn overlay_with(pairs: &[(&str, &str, toml::Value)]) -> toml::Table {
    let mut t = toml::Table::new();
    for (section, key, value) in pairs {
        t.entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("table")
            .insert(key.to_string(), value.clone());
    }
    t
}

#[test]
fn a_saved_overlay_is_loaded_after_the_file_and_kept_across_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config_file(dir.path(), "");
    let data = dir.path().join("data");
    let overlay = overlay_with(&[
        ("shop", "name", "Frosty Air".into()),
        (
            "triage",
            "vulnerable_words",
            toml::Value::Array(vec!["nana".into()]),
        ),
    ]);
    save_overlay(&data, &overlay).expect("save");
    for _restart in 0..2 {
        let c =
            Config::load_with(Some(&file), Path::new("/nonexistent"), &[], None).expect("loads");
        assert_eq!(c.shop.name, "Frosty Air");
        assert_eq!(c.triage.vulnerable_words, vec!["nana".to_string()]);
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(overlay_path(&data))
        .expect("overlay")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_environment_wins_over_the_overlay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config_file(dir.path(), "");
    let data = dir.path().join("data");
    save_overlay(
        &data,
        &overlay_with(&[("shop", "name", "Page Name".into())]),
    )
    .expect("save");
    let env = vec![("CALLBOX_SHOP_NAME".to_string(), "Env Name".to_string())];
    let c = Config::load_with(Some(&file), Path::new("/nonexistent"), &env, None).expect("loads");
    assert_eq!(c.shop.name, "Env Name");
}

#[test]
fn a_bad_overlay_names_its_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config_file(dir.path(), "");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(overlay_path(&data), "[shop]\nnmae = \"x\"\n").expect("write");
    let err = Config::load_with(Some(&file), Path::new("/nonexistent"), &[], None)
        .expect_err("unknown key");
    let text = err.to_string();
    assert!(
        text.contains("settings.toml") && text.contains("shop.nmae"),
        "{text}"
    );
}

#[test]
fn page_secrets_are_read_like_credentials_and_never_written_to_the_overlay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config_file(dir.path(), "");
    let data = dir.path().join("data");
    let secret = "cs-page-77ab-secret";
    save_page_secret(&data, "servicetitan", "client_secret", secret).expect("save secret");
    let c = Config::load_with(Some(&file), Path::new("/nonexistent"), &[], None).expect("loads");
    assert_eq!(c.servicetitan.client_secret.expose(), secret);
    assert!(read_overlay(&data).expect("overlay").is_empty());
    assert!(!toml::to_string(&c).expect("show").contains(secret));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(page_secrets_dir(&data).join("servicetitan.client_secret"))
        .expect("secret file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn changes_are_checked_against_the_whole_configuration() {
    let mut config = Config::default();
    config.servicetitan.client_secret = crate::infra::Secret::new("kept-secret");
    let good = overlay_with(&[("shop", "name", "Frosty Air".into())]);
    let merged = with_changes(&config, &good).expect("valid");
    assert_eq!(merged.shop.name, "Frosty Air");
    assert_eq!(merged.servicetitan.client_secret.expose(), "kept-secret");

    // rtp_port_min above rtp_port_max: only the whole configuration can tell.
    let bad = overlay_with(&[("media", "rtp_port_min", toml::Value::Integer(60_000))]);
    let mut small = Config::default();
    small.media.rtp_port_max = 20_000;
    let errors = with_changes(&small, &bad).expect_err("invalid");
    assert!(errors.keys().any(|k| k.starts_with("media.")), "{errors:?}");
    let typed = overlay_with(&[("shop", "name", toml::Value::Integer(3))]);
    let errors = with_changes(&config, &typed).expect_err("wrong type");
    assert!(errors.contains_key("shop.name"), "{errors:?}");
}

#[test]
fn page_values_take_the_type_of_the_key() {
    let int = toml::Value::Integer(1);
    assert_eq!(
        page_value(&int, &serde_json::json!(42)),
        Ok(toml::Value::Integer(42))
    );
    assert_eq!(
        page_value(&int, &serde_json::json!("42")),
        Ok(toml::Value::Integer(42))
    );
    assert!(page_value(&int, &serde_json::json!("lots")).is_err());
    let list = toml::Value::Array(vec!["a".into()]);
    assert_eq!(
        page_value(&list, &serde_json::json!("gas, smell\nsmoke\n")),
        Ok(toml::Value::Array(vec![
            "gas, smell".into(),
            "smoke".into()
        ]))
    );
    let flag = toml::Value::Boolean(false);
    assert_eq!(
        page_value(&flag, &serde_json::json!(true)),
        Ok(toml::Value::Boolean(true))
    );
}

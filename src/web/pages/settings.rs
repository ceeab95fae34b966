//! Settings: every section as a fieldset, each field with its help, where its value comes
//! from, the check's message and (after a 422) the reason next to it. Secrets are password
//! inputs that show only set/unset; prompts offer "hear it"; ServiceTitan offers "test
//! connection"; saved changes that need a restart show the banner with the restart button.

use serde_json::Value;

use super::super::backend::{FieldKind, SettingField, SettingsSection, SettingsView};
use super::super::html::escape;
use super::session_page;

pub fn render(view: &SettingsView, csrf: &str) -> String {
    let sections: String = view.sections.iter().map(section).collect();
    let body = format!(
        "{banner}<form id=\"settings-form\" novalidate>\n{sections}\
         <div class=\"save-bar\"><button id=\"save-settings\" type=\"submit\">Save changes</button>\
         <p id=\"settings-message\" role=\"status\"></p></div>\n</form>\n{test}",
        banner = restart_banner(&view.restart_pending),
        test = connection_card(),
    );
    session_page("Settings", "/settings", csrf, &body)
}

fn restart_banner(pending: &[String]) -> String {
    let hidden = if pending.is_empty() { " hidden" } else { "" };
    let keys = pending
        .iter()
        .map(|k| escape(k))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "<div id=\"restart-needed\" class=\"banner\" role=\"status\"{hidden}>\n\
         <p>Saved changes take effect after a restart: <span id=\"restart-keys\">{keys}</span>. \
         The box restarts once no call is in progress.</p>\n\
         <button id=\"restart\" type=\"button\">Restart when the line is idle</button>\n</div>\n"
    )
}

fn connection_card() -> &'static str {
    "<section class=\"card\" id=\"servicetitan-test\"><h2>ServiceTitan connection</h2>\n\
     <p class=\"help\">Tries the saved credentials: token, a customer lookup and capacity. Save \
     changed credentials first.</p>\n\
     <button id=\"test-connection\" type=\"button\">Test connection</button>\n\
     <ul id=\"connection-report\" class=\"plain steps\" aria-live=\"polite\"></ul>\n</section>"
}

fn section(section: &SettingsSection) -> String {
    let fields: String = section.fields.iter().map(field).collect();
    format!(
        "<fieldset data-section=\"{n}\" class=\"card\">\n<legend>{n}</legend>\n{fields}</fieldset>\n",
        n = escape(&section.name)
    )
}

/// `shop.name` → `field-shop-name`.
pub fn field_id(key: &str) -> String {
    match key.split_once('.') {
        Some((section, rest)) => format!("field-{section}-{rest}"),
        None => format!("field-{key}"),
    }
}

fn field(f: &SettingField) -> String {
    let id = escape(&field_id(&f.key));
    let key = escape(&f.key);
    let name = f.key.split_once('.').map_or(f.key.as_str(), |(_, k)| k);
    let restart = if f.needs_restart {
        " <span class=\"badge warn\">restart</span>"
    } else {
        ""
    };
    let issue = f
        .issue
        .as_deref()
        .map(|i| format!("<p class=\"issue\">{}</p>", escape(i)))
        .unwrap_or_default();
    let hear = if f.is_prompt {
        format!("<button type=\"button\" class=\"hear quiet\" data-for=\"{key}\">Hear it</button>")
    } else {
        String::new()
    };
    format!(
        "<div class=\"field\">\n<label for=\"{id}\">{label}{restart} <span class=\"source\">{source}</span></label>\n\
         {control}\n<p class=\"help\" id=\"{id}-help\">{help}</p>{issue}{hear}\n\
         <p class=\"field-error\" data-error-for=\"{key}\" role=\"alert\"></p>\n</div>\n",
        label = escape(name),
        source = escape(&source_text(&f.source)),
        control = control(f, &id, &key),
        help = escape(&f.help),
    )
}

fn source_text(source: &str) -> String {
    match source {
        "" => String::new(),
        "environment" => "from the environment (cannot be changed here)".to_string(),
        other => format!("from {other}"),
    }
}

/// The input for the field's kind. `id` and `key` are escaped already.
fn control(f: &SettingField, id: &str, key: &str) -> String {
    let common = format!(
        "id=\"{id}\" name=\"{key}\" aria-describedby=\"{id}-help\" data-kind=\"{}\"{}",
        kind_name(f.kind),
        if f.source == "environment" {
            " disabled"
        } else {
            ""
        }
    );
    match f.kind {
        FieldKind::Secret => format!(
            "<input {common} type=\"password\" autocomplete=\"new-password\" placeholder=\"{}\">",
            if f.secret_set { "set" } else { "unset" }
        ),
        FieldKind::Bool => {
            let on = f.value.as_bool().unwrap_or(false);
            let option = |value: bool, text: &str| {
                let selected = if value == on { " selected" } else { "" };
                format!("<option value=\"{value}\"{selected}>{text}</option>")
            };
            format!(
                "<select {common}>{}{}</select>",
                option(true, "yes"),
                option(false, "no")
            )
        }
        FieldKind::Number => format!(
            "<input {common} type=\"number\" step=\"any\" inputmode=\"decimal\" value=\"{}\">",
            escape(&plain(&f.value))
        ),
        FieldKind::List => format!(
            "<textarea {common} rows=\"3\">{}</textarea>",
            escape(&list_lines(&f.value))
        ),
        FieldKind::Text if f.is_prompt => format!(
            "<textarea {common} rows=\"3\">{}</textarea>",
            escape(&plain(&f.value))
        ),
        FieldKind::Text => format!(
            "<input {common} type=\"text\" value=\"{}\">",
            escape(&plain(&f.value))
        ),
    }
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Number => "number",
        FieldKind::Bool => "bool",
        FieldKind::List => "list",
        FieldKind::Secret => "secret",
    }
}

/// A value as the user edits it: strings as they are, `null` empty, the rest as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A list, one item per line.
fn list_lines(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join("\n"),
        other => plain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(key: &str, kind: FieldKind, value: Value) -> SettingField {
        SettingField {
            key: key.into(),
            kind,
            value,
            help: "what it does".into(),
            source: "file".into(),
            ..SettingField::default()
        }
    }

    fn page(fields: Vec<SettingField>, pending: Vec<String>) -> String {
        render(
            &SettingsView {
                sections: vec![SettingsSection {
                    name: "shop".into(),
                    fields,
                }],
                restart_pending: pending,
            },
            "t",
        )
    }

    #[test]
    fn each_kind_gets_its_control_named_by_the_contract() {
        let html = page(
            vec![
                field("shop.name", FieldKind::Text, json!("Acme HVAC")),
                field("shop.open", FieldKind::Bool, json!(true)),
                field("shop.max", FieldKind::Number, json!(3.5)),
                field("shop.days", FieldKind::List, json!(["mon", "tue"])),
            ],
            vec![],
        );
        assert!(html.contains("<fieldset data-section=\"shop\""));
        assert!(html.contains("<input id=\"field-shop-name\" name=\"shop.name\""));
        assert!(html.contains("value=\"Acme HVAC\""));
        assert!(html.contains("<select id=\"field-shop-open\" name=\"shop.open\""));
        assert!(html.contains("<option value=\"true\" selected>"));
        assert!(html.contains("type=\"number\"") && html.contains("value=\"3.5\""));
        assert!(html.contains(">mon\ntue</textarea>"));
        assert!(html.contains("data-error-for=\"shop.days\""));
        assert!(html.contains("<button id=\"save-settings\""));
        assert!(html.contains("id=\"restart-needed\" class=\"banner\" role=\"status\" hidden"));
    }

    #[test]
    fn secrets_show_set_or_unset_and_never_a_value() {
        let mut secret = field("shop.token", FieldKind::Secret, json!("hunter2-secret"));
        secret.secret_set = true;
        let unset = field("shop.other", FieldKind::Secret, Value::Null);
        let html = page(vec![secret, unset], vec![]);
        assert!(!html.contains("hunter2"), "{html}");
        assert!(
            html.contains("type=\"password\" autocomplete=\"new-password\" placeholder=\"set\"")
        );
        assert!(html.contains("placeholder=\"unset\""));
    }

    #[test]
    fn prompts_can_be_heard_and_environment_values_not_changed() {
        let mut prompt = field("shop.greeting", FieldKind::Text, json!("Hello"));
        prompt.is_prompt = true;
        let mut pinned = field("shop.zone", FieldKind::Text, json!("UTC"));
        pinned.source = "environment".into();
        let html = page(vec![prompt, pinned], vec!["sip.listen".into()]);
        assert!(html
            .contains("<button type=\"button\" class=\"hear quiet\" data-for=\"shop.greeting\">"));
        assert!(html.contains("<textarea id=\"field-shop-greeting\""));
        assert!(html.contains("data-kind=\"text\" disabled"));
        assert!(html.contains("<div id=\"restart-needed\" class=\"banner\" role=\"status\">"));
        assert!(html.contains("sip.listen"));
        assert!(html.contains("<button id=\"restart\""));
    }
}

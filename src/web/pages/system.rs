//! Updates (version, channel, last check, "check now") and diagnostics (live log tail,
//! support bundle).

use super::super::backend::UpdatesView;
use super::super::html::escape;
use super::{or_dash, session_page};

pub fn render_updates(view: &UpdatesView, csrf: &str) -> String {
    let missing = match (&view.available, &view.missing) {
        (false, Some(missing)) => format!(
            "<p class=\"bad-note\" id=\"update-missing\">Updates are not wired yet: {}</p>\n",
            escape(missing)
        ),
        (false, None) => {
            "<p class=\"bad-note\" id=\"update-missing\">Updates are not wired yet.</p>\n".into()
        }
        (true, _) => String::new(),
    };
    let result = match (view.available, &view.last_result, &view.missing) {
        (_, Some(result), _) => escape(result),
        (false, None, Some(missing)) => escape(missing),
        _ => "—".to_string(),
    };
    let body = format!(
        "{missing}<section class=\"card\"><dl>\n\
         <dt>Version</dt><dd id=\"version\">{version}</dd>\n\
         <dt>Channel</dt><dd id=\"update-channel\">{channel}</dd>\n\
         <dt>Last check</dt><dd id=\"update-last-check\">{last}</dd>\n\
         <dt>Result</dt><dd id=\"update-result\" aria-live=\"polite\">{result}</dd>\n</dl>\n\
         <button id=\"check-updates\" type=\"button\">Check now</button></section>",
        version = escape(&view.version),
        channel = or_dash(view.channel.as_deref()),
        last = or_dash(view.last_check.as_deref()),
    );
    session_page("Updates", "/updates", csrf, &body)
}

pub fn render_diagnostics(csrf: &str) -> String {
    let body = "<section class=\"card\"><h2>Support bundle</h2>\n\
         <p class=\"help\">Logs, configuration, status and versions, with every secret removed.</p>\n\
         <a id=\"support-bundle\" class=\"button\" href=\"/api/support-bundle\" download>Download support bundle</a>\n\
         </section>\n<section class=\"card\"><h2>Log <span id=\"log-state\" class=\"detail\"></span></h2>\n\
         <pre id=\"log-tail\" aria-live=\"off\" tabindex=\"0\"></pre>\n</section>";
    session_page("Diagnostics", "/diagnostics", csrf, body)
}

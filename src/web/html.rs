//! The pages, compiled in. Hand-written templates: every value that is not a literal of this
//! file goes through [`escape`]. No inline script or style (the CSP forbids them); the page's
//! CSS and JS are served from the binary under `/static/`.

/// Escapes text for an HTML element body or a double- or single-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub const CSS: &str = include_str!("assets/app.css");
pub const JS: &str = include_str!("assets/app.js");
pub const FAVICON: &str = include_str!("assets/favicon.svg");

/// The frame every page shares. `head_extra`, `header` and `body` must already be escaped HTML.
pub fn layout(title: &str, head_extra: &str, header: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · callbox</title>\n<link rel=\"stylesheet\" href=\"/static/app.css\">\n\
         <link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">\n\
         {head_extra}<script src=\"/static/app.js\" defer></script>\n</head>\n\
         <body>\n<header class=\"top\"><strong class=\"brand\">callbox</strong>{header}</header>\n\
         <main>\n{body}\n</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

pub fn login_page() -> String {
    layout(
        "Log in",
        "",
        "",
        "<h1>Log in</h1>\n\
         <form id=\"login-form\" class=\"card\">\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Log in</button>\n\
         <p id=\"message\" class=\"message\" role=\"alert\"></p>\n</form>",
    )
}

pub fn setup_page() -> String {
    layout(
        "Set up",
        "",
        "",
        "<h1>Set up the box</h1>\n\
         <p>The setup code is in the box's log and in <code>&lt;data dir&gt;/web/setup-code</code>.</p>\n\
         <form id=\"setup-form\" class=\"card\">\n\
         <label for=\"setup_code\">Setup code</label>\n\
         <input id=\"setup_code\" name=\"setup_code\" autocomplete=\"off\" autocapitalize=\"characters\" required>\n\
         <label for=\"password\">New admin password (at least 10 characters)</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required>\n\
         <button type=\"submit\">Set password</button>\n\
         <p id=\"message\" class=\"message\" role=\"alert\"></p>\n</form>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'";

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(HOSTILE),
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;"
        );
        assert_eq!(escape("Joe & Sons"), "Joe &amp; Sons");
    }

    #[test]
    fn pages_load_nothing_from_outside() {
        for page in [login_page(), setup_page()] {
            assert!(
                !page.contains("http://") && !page.contains("https://"),
                "{page}"
            );
            assert!(page.contains("width=device-width"));
        }
    }
}

//! The route table: every route the web server has, with its access rule. The router is built
//! from this table (so the security test that walks [`routes`] covers every route), and so is
//! the OpenAPI document.

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

use super::api;
use super::guard;
use super::handlers;
use super::pages;
use super::state::AppState;

/// Bodies larger than this are refused (413) before a handler reads them.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Login, setup, static assets and the health check.
    Public,
    /// A live session; changes also need the session's CSRF token.
    Session,
}

/// One route of the web server.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

impl Route {
    pub fn is_api(&self) -> bool {
        self.path.starts_with("/api/")
    }
}

static ROUTES: &[Route] = &[
    Route {
        verb: Verb::Get,
        path: "/healthz",
        access: Access::Public,
        summary: "Liveness: status and version",
        handler: || get(handlers::healthz),
    },
    Route {
        verb: Verb::Get,
        path: "/login",
        access: Access::Public,
        summary: "Login page",
        handler: || get(handlers::login_page),
    },
    Route {
        verb: Verb::Get,
        path: "/setup",
        access: Access::Public,
        summary: "First-start page: setup code and admin password",
        handler: || get(handlers::setup_page),
    },
    Route {
        verb: Verb::Get,
        path: "/static/app.css",
        access: Access::Public,
        summary: "Stylesheet",
        handler: || get(handlers::stylesheet),
    },
    Route {
        verb: Verb::Get,
        path: "/static/app.js",
        access: Access::Public,
        summary: "Page script",
        handler: || get(handlers::script),
    },
    Route {
        verb: Verb::Get,
        path: "/static/favicon.svg",
        access: Access::Public,
        summary: "Icon",
        handler: || get(handlers::favicon),
    },
    Route {
        verb: Verb::Post,
        path: "/api/setup",
        access: Access::Public,
        summary: "Set the admin password with the one-time setup code",
        handler: || post(handlers::setup),
    },
    Route {
        verb: Verb::Post,
        path: "/api/session",
        access: Access::Public,
        summary: "Log in: session cookie and CSRF token",
        handler: || post(handlers::login),
    },
    Route {
        verb: Verb::Delete,
        path: "/api/session",
        access: Access::Session,
        summary: "Log out",
        handler: || delete(handlers::logout),
    },
    Route {
        verb: Verb::Get,
        path: "/api/status",
        access: Access::Session,
        summary: "The box's status",
        handler: || get(handlers::status),
    },
    Route {
        verb: Verb::Get,
        path: "/api/openapi.json",
        access: Access::Session,
        summary: "This API as an OpenAPI 3.1 document",
        handler: || get(handlers::openapi),
    },
    Route {
        verb: Verb::Get,
        path: "/",
        access: Access::Session,
        summary: "Dashboard",
        handler: || get(pages::dashboard),
    },
    Route {
        verb: Verb::Get,
        path: "/calls",
        access: Access::Session,
        summary: "Calls: filter by day and outcome, search, pages",
        handler: || get(pages::calls),
    },
    Route {
        verb: Verb::Get,
        path: "/calls/{key}",
        access: Access::Session,
        summary: "One call: transcript, recording, records",
        handler: || get(pages::call),
    },
    Route {
        verb: Verb::Get,
        path: "/queue",
        access: Access::Session,
        summary: "Queue records by state",
        handler: || get(pages::queue),
    },
    Route {
        verb: Verb::Get,
        path: "/on-call",
        access: Access::Session,
        summary: "Who is on call; recent alerts",
        handler: || get(pages::on_call),
    },
    Route {
        verb: Verb::Get,
        path: "/settings",
        access: Access::Session,
        summary: "Settings",
        handler: || get(pages::settings),
    },
    Route {
        verb: Verb::Get,
        path: "/updates",
        access: Access::Session,
        summary: "Updates",
        handler: || get(pages::updates),
    },
    Route {
        verb: Verb::Get,
        path: "/diagnostics",
        access: Access::Session,
        summary: "Diagnostics: live log, support bundle",
        handler: || get(pages::diagnostics),
    },
    Route {
        verb: Verb::Get,
        path: "/api/dashboard",
        access: Access::Session,
        summary: "The dashboard's facts and calls per day (14 days)",
        handler: || get(api::dashboard),
    },
    Route {
        verb: Verb::Get,
        path: "/api/calls",
        access: Access::Session,
        summary: "Calls, newest first: day, outcome, q, offset, limit",
        handler: || get(api::calls),
    },
    Route {
        verb: Verb::Get,
        path: "/api/calls/{key}",
        access: Access::Session,
        summary: "One call with its transcript and records",
        handler: || get(api::call),
    },
    Route {
        verb: Verb::Get,
        path: "/api/calls/{key}/recording",
        access: Access::Session,
        summary: "The call's recording (audio/wav; single byte ranges)",
        handler: || get(api::recording),
    },
    Route {
        verb: Verb::Get,
        path: "/api/queue",
        access: Access::Session,
        summary: "Queue records, optionally of one state",
        handler: || get(api::queue),
    },
    Route {
        verb: Verb::Post,
        path: "/api/queue/{id}/retry",
        access: Access::Session,
        summary: "Put a record that needs attention back in line",
        handler: || post(api::retry),
    },
    Route {
        verb: Verb::Get,
        path: "/api/queue/export",
        access: Access::Session,
        summary: "Every queue record as JSON lines (attachment)",
        handler: || get(api::export_queue),
    },
    Route {
        verb: Verb::Get,
        path: "/api/on-call",
        access: Access::Session,
        summary: "Who is on call now and next; recent alerts",
        handler: || get(api::on_call),
    },
    Route {
        verb: Verb::Post,
        path: "/api/alerts/{id}/acknowledge",
        access: Access::Session,
        summary: "Take an on-call alert by hand: noted in the alert and the call, paging stops",
        handler: || post(api::acknowledge_alert),
    },
    Route {
        verb: Verb::Get,
        path: "/api/settings",
        access: Access::Session,
        summary: "Every setting (secrets as set/unset only)",
        handler: || get(api::settings),
    },
    Route {
        verb: Verb::Put,
        path: "/api/settings",
        access: Access::Session,
        summary: "Change settings; 422 names each wrong field",
        handler: || put(api::apply_settings),
    },
    Route {
        verb: Verb::Post,
        path: "/api/settings/test-connection",
        access: Access::Session,
        summary: "ServiceTitan: token, customer lookup, capacity",
        handler: || post(api::test_connection),
    },
    Route {
        verb: Verb::Post,
        path: "/api/voice/preview",
        access: Access::Session,
        summary: "Text in the box's own voice (audio/wav)",
        handler: || post(api::voice_preview),
    },
    Route {
        verb: Verb::Post,
        path: "/api/restart",
        access: Access::Session,
        summary: "Restart once the line is idle",
        handler: || post(api::restart),
    },
    Route {
        verb: Verb::Get,
        path: "/api/updates",
        access: Access::Session,
        summary: "Version, channel, last check",
        handler: || get(api::updates),
    },
    Route {
        verb: Verb::Post,
        path: "/api/updates/check",
        access: Access::Session,
        summary: "Check for an update now",
        handler: || post(api::check_updates),
    },
    Route {
        verb: Verb::Get,
        path: "/api/logs",
        access: Access::Session,
        summary: "Log lines after a sequence number",
        handler: || get(api::logs),
    },
    Route {
        verb: Verb::Get,
        path: "/api/support-bundle",
        access: Access::Session,
        summary: "Logs, config, status and versions, secrets removed (attachment)",
        handler: || get(api::support_bundle),
    },
];

/// Every route the server has.
pub fn routes() -> &'static [Route] {
    ROUTES
}

/// The HTTPS application: the table's routes behind their guards.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes() {
        let method_router = match route.access {
            Access::Public => (route.handler)(),
            Access::Session => (route.handler)()
                .route_layer(from_fn_with_state(state.clone(), guard::require_session)),
        };
        router = router.route(route.path, method_router);
    }
    router
        .fallback(handlers::fallback)
        .layer(from_fn(guard::same_origin))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(from_fn(guard::security_headers))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_login_setup_assets_and_health_are_public() {
        for route in routes() {
            let public_by_rule = matches!(
                (route.verb, route.path),
                (Verb::Get, "/healthz" | "/login" | "/setup")
                    | (Verb::Post, "/api/setup" | "/api/session")
            ) || route.path.starts_with("/static/");
            assert_eq!(
                route.access == Access::Public,
                public_by_rule,
                "{} {}",
                route.verb.as_str(),
                route.path
            );
        }
    }

    #[test]
    fn no_route_is_listed_twice() {
        let all = routes();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    !(a.verb == b.verb && a.path == b.path),
                    "{} {}",
                    a.verb.as_str(),
                    a.path
                );
            }
        }
    }
}

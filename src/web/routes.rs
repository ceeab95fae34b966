//! The route table: every route the web server has, with its access rule. The router is built
//! from this table (so the security test that walks [`routes`] covers every route), and so is
//! the OpenAPI document.

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;

use super::guard;
use super::handlers;
use super::state::AppState;

/// Bodies larger than this are refused (413) before a handler reads them.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
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
        handler: || get(handlers::dashboard),
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

//! The OpenAPI 3.1 document of `/api`, built from the route table so it cannot miss a route.

use serde_json::{json, Map, Value};

use super::routes::{routes, Access, Route, Verb};
use super::state::SESSION_COOKIE;

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in routes().iter().filter(|r| r.is_api()) {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(route.verb.as_str().to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "callbox local API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The box's own web API. Every non-GET request carries X-CSRF-Token \
                            (the token from POST /api/session)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE },
                "csrf": { "type": "apiKey", "in": "header", "name": "X-CSRF-Token" }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": { "error": { "type": "string" } },
                    "required": ["error"]
                },
                "FieldErrors": {
                    "type": "object",
                    "properties": {
                        "errors": {
                            "type": "object",
                            "description": "reason per field, keyed `<section>.<key>`",
                            "additionalProperties": { "type": "string" }
                        }
                    },
                    "required": ["errors"]
                }
            }
        }
    })
}

fn operation(route: &Route) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), json!(route.summary));
    op.insert(
        "operationId".into(),
        json!(format!(
            "{}{}",
            route.verb.as_str().to_ascii_lowercase(),
            route.path.replace(['/', '.'], "_")
        )),
    );
    if let Some(body) = request_body(route) {
        op.insert("requestBody".into(), body);
    }
    let parameters = parameters(route);
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    let mut responses = Map::new();
    let (code, success) = success(route);
    responses.insert(code.into(), success);
    if route.path == "/api/calls/{key}/recording" {
        responses.insert(
            "206".into(),
            json!({
                "description": "the single byte range asked for (Content-Range)",
                "content": { "audio/wav": { "schema": { "type": "string", "format": "binary" } } }
            }),
        );
    }
    let mut refusal = |code: &str, description: &str, schema: &str| {
        responses.insert(
            code.into(),
            json!({
                "description": description,
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            }),
        );
    };
    match route.access {
        Access::Session => {
            op.insert("security".into(), security(route.verb));
            refusal("401", "no session", "Error");
            if route.verb != Verb::Get {
                refusal("403", "missing or wrong X-CSRF-Token", "Error");
            }
            for (code, description, schema) in refusals(route) {
                refusal(code, description, schema);
            }
        }
        Access::Public => {
            op.insert("security".into(), json!([]));
            if route.verb == Verb::Post {
                refusal("401", "wrong password", "Error");
                refusal("403", "wrong setup code, or cross-site", "Error");
                refusal("409", "not possible in the box's state", "Error");
                refusal("422", "invalid field", "FieldErrors");
                refusal("429", "locked out; see Retry-After", "Error");
            }
        }
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

fn security(verb: Verb) -> Value {
    if verb == Verb::Get {
        json!([{ "session": [] }])
    } else {
        json!([{ "session": [], "csrf": [] }])
    }
}

fn request_body(route: &Route) -> Option<Value> {
    let schema = match (route.verb, route.path) {
        (Verb::Post, "/api/setup") => json!({
            "type": "object",
            "properties": {
                "setup_code": { "type": "string" },
                "password": { "type": "string", "minLength": 10 }
            },
            "required": ["setup_code", "password"],
            "additionalProperties": false
        }),
        (Verb::Post, "/api/session") => json!({
            "type": "object",
            "properties": { "password": { "type": "string" } },
            "required": ["password"],
            "additionalProperties": false
        }),
        (Verb::Put, "/api/settings") => json!({
            "type": "object",
            "properties": {
                "changes": {
                    "type": "object",
                    "description": "new value per `<section>.<key>`; a secret's empty string leaves it unchanged",
                    "additionalProperties": true
                }
            },
            "required": ["changes"],
            "additionalProperties": false
        }),
        (Verb::Post, "/api/alerts/{id}/acknowledge") => json!({
            "type": "object",
            "properties": { "by": { "type": "string", "minLength": 1, "maxLength": 60 } },
            "required": ["by"],
            "additionalProperties": false
        }),
        (Verb::Post, "/api/voice/preview") => json!({
            "type": "object",
            "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 500 } },
            "required": ["text"],
            "additionalProperties": false
        }),
        _ => return None,
    };
    Some(json!({ "required": true, "content": { "application/json": { "schema": schema } } }))
}

/// Path parameters (`{key}`) and the query parameters each route reads.
fn parameters(route: &Route) -> Vec<Value> {
    let in_path = route
        .path
        .split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }));
    let query: &[(&str, &str, &str)] = match route.path {
        "/api/calls" => &[
            ("day", "string", "shop-local day, YYYY-MM-DD"),
            ("outcome", "string", "job, lead, callback, voicemail, …"),
            (
                "q",
                "string",
                "digits match the number, other text the name",
            ),
            ("offset", "integer", "calls to skip"),
            ("limit", "integer", "at most this many (1-200, default 50)"),
        ],
        "/api/queue" => &[(
            "state",
            "string",
            "queued, syncing, synced, needs_attention",
        )],
        "/api/logs" => &[
            (
                "after",
                "integer",
                "only lines after this sequence number (0: the newest)",
            ),
            (
                "limit",
                "integer",
                "at most this many (1-1000, default 200)",
            ),
        ],
        _ => &[],
    };
    let in_query = query.iter().map(|(name, kind, description)| {
        json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": kind } })
    });
    in_path.chain(in_query).collect()
}

/// The success status and its description, with the content type and schema.
fn success(route: &Route) -> (&'static str, Value) {
    let json_of = |description: &str, schema: Value| json!({ "description": description, "content": { "application/json": { "schema": schema } } });
    let object = |description: &str| json_of(description, json!({ "type": "object" }));
    let array = |description: &str| {
        json_of(
            description,
            json!({ "type": "array", "items": { "type": "object" } }),
        )
    };
    let file = |description: &str, content_type: &str| json!({ "description": description, "content": { content_type: { "schema": { "type": "string", "format": "binary" } } } });
    match (route.verb, route.path) {
        (Verb::Delete, "/api/session") => (
            "204",
            json!({ "description": "logged out; the cookie is cleared" }),
        ),
        (Verb::Post, "/api/restart") => (
            "202",
            object("RestartPlan: the box restarts once the line is idle"),
        ),
        (_, "/api/dashboard") => (
            "200",
            object("DashboardView plus calls_per_day (14 days, oldest first)"),
        ),
        (_, "/api/calls") => (
            "200",
            object("CallPage: calls newest first, total, outcomes"),
        ),
        (_, "/api/calls/{key}") => (
            "200",
            object("CallDetail: summary, transcript, digits, records"),
        ),
        (_, "/api/calls/{key}/recording") => (
            "200",
            file(
                "the recording; 206 with Content-Range for a single byte range",
                "audio/wav",
            ),
        ),
        (_, "/api/queue") => ("200", array("QueueRow per record")),
        (_, "/api/queue/{id}/retry") => ("200", object("QueueRow: the record back in line")),
        (_, "/api/queue/export") => (
            "200",
            file(
                "every record as JSON lines (attachment)",
                "application/x-ndjson",
            ),
        ),
        (_, "/api/on-call") => ("200", object("OnCallView: now, next, source, alerts")),
        (_, "/api/alerts/{id}/acknowledge") => (
            "200",
            object("AlertRow: the alert, acknowledged by the name given"),
        ),
        (Verb::Get, "/api/settings") => (
            "200",
            object("SettingsView: sections of fields; secrets only as secret_set"),
        ),
        (Verb::Put, "/api/settings") => (
            "200",
            object("Applied: keys in effect now, keys waiting for a restart"),
        ),
        (_, "/api/settings/test-connection") => (
            "200",
            object("ConnectionReport: token, customer lookup, capacity; each ok or the reason"),
        ),
        (_, "/api/voice/preview") => ("200", file("the text in the box's voice", "audio/wav")),
        (_, "/api/updates" | "/api/updates/check") => (
            "200",
            object("UpdatesView; when available is false, missing says what is"),
        ),
        (_, "/api/logs") => (
            "200",
            array("LogLine {seq, text}, oldest first, already redacted"),
        ),
        (_, "/api/support-bundle") => (
            "200",
            file(
                "logs, config, status, versions; secrets removed (attachment)",
                "application/gzip",
            ),
        ),
        (_, "/api/session") => ("200", object("{csrf_token}; the session cookie is set")),
        _ => ("200", object("OK")),
    }
}

/// What else a session route may answer.
fn refusals(route: &Route) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    if route.path.contains('{') {
        out.push(("404", "no such call, record or recording", "Error"));
    }
    match (route.verb, route.path) {
        (_, "/api/queue/{id}/retry") => out.push((
            "409",
            "the record is not in a state that allows a retry",
            "Error",
        )),
        (_, "/api/calls/{key}/recording") => {
            out.push((
                "416",
                "the range starts past the end (Content-Range: bytes */len)",
                "Error",
            ));
        }
        (Verb::Put, "/api/settings") => out.push((
            "422",
            "a reason per wrong field; nothing is saved",
            "FieldErrors",
        )),
        (_, "/api/alerts/{id}/acknowledge") => {
            out.push(("409", "someone already took the alert", "Error"));
            out.push((
                "422",
                "no name, or longer than 60 characters",
                "FieldErrors",
            ));
        }
        (_, "/api/voice/preview") => out.push((
            "422",
            "text empty or longer than 500 characters",
            "FieldErrors",
        )),
        (_, "/api/calls" | "/api/logs") => {
            out.push(("422", "a number parameter is not a number", "FieldErrors"))
        }
        _ => {}
    }
    let backed = !matches!(
        route.path,
        "/api/session" | "/api/openapi.json" | "/api/status"
    );
    if backed {
        out.push((
            "503",
            "the store or service behind it is not available now",
            "Error",
        ));
        out.push(("500", "internal error (see the box's log)", "Error"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_documented_and_nothing_else() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = 0;
        for (path, methods) in paths {
            for method in methods.as_object().unwrap().keys() {
                assert!(
                    routes()
                        .iter()
                        .any(|r| r.path == path && r.verb.as_str().eq_ignore_ascii_case(method)),
                    "{method} {path} is not a route"
                );
                documented += 1;
            }
        }
        assert_eq!(documented, routes().iter().filter(|r| r.is_api()).count());
        assert!(doc["paths"]["/api/setup"]["post"]["requestBody"].is_object());
        assert_eq!(
            doc["paths"]["/api/session"]["delete"]["security"][0]["csrf"],
            json!([])
        );
        let put = &doc["paths"]["/api/settings"]["put"];
        assert!(
            put["requestBody"]["content"]["application/json"]["schema"]["properties"]["changes"]
                .is_object()
        );
        assert_eq!(
            put["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/FieldErrors"
        );
        let recording = &doc["paths"]["/api/calls/{key}/recording"]["get"];
        assert!(recording["responses"]["200"]["content"]["audio/wav"].is_object());
        assert_eq!(recording["parameters"][0]["name"], "key");
        assert!(doc["paths"]["/api/restart"]["post"]["responses"]["202"].is_object());
        assert_eq!(
            doc["paths"]["/api/calls"]["get"]["parameters"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
    }
}

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
    let mut responses = Map::new();
    responses.insert("200".into(), json!({ "description": "OK" }));
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
        _ => return None,
    };
    Some(json!({ "required": true, "content": { "application/json": { "schema": schema } } }))
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
    }
}

//! Conformance tests for the ServiceTitan test server itself, over plain HTTP.

mod support;

use support::st_server::{seed, StServer, StServerConfig};

#[test]
fn starts() {
    let config = StServerConfig::default();
    let server = StServer::start_seeded(config.clone(), seed::hvac_shop(&config));
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
}

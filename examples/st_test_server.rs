//! The ServiceTitan test server as a standalone program, seeded with the HVAC shop, so a
//! person can point `callbox` at it by hand and watch the requests go by.
//!
//! ```text
//! cargo run --example st_test_server -- [PORT]      # default 8089
//! ```
//!
//! Everything it knows comes from `tests/support/st_server` (the same server the integration
//! tests use). Stop it with Ctrl-C.

#[path = "../tests/support/st_server/mod.rs"]
mod st_server;

use st_server::{seed, StServer, StServerConfig};
use std::net::SocketAddr;
use std::time::Duration;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("PORT must be a number"))
        .unwrap_or(8089);
    let config = StServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        ..StServerConfig::default()
    };
    let server = StServer::start_seeded(config.clone(), seed::hvac_shop(&config));
    println!("ServiceTitan test server");
    println!("  API host       {}", server.base_url());
    println!("  token endpoint {}", server.token_url());
    println!("  tenant         {}", config.tenant_id);
    println!("  ST-App-Key     {}", config.app_key);
    println!("  client id      {}", config.client_id);
    println!("  client secret  {}", config.client_secret);
    println!(
        "  seeded: business unit {} (HVAC Service), job type {} (No Cool), campaign {} ({}), default campaign {}",
        seed::BU_HVAC_SERVICE,
        seed::JT_NO_COOL,
        seed::CAMPAIGN_GOOGLE_ADS,
        seed::CAMPAIGN_GOOGLE_ADS_NUMBER,
        seed::CAMPAIGN_DEFAULT
    );
    println!(
        "  customer {} Jane Doe {} (location {})",
        seed::CUSTOMER_JANE,
        seed::CUSTOMER_JANE_PHONE,
        seed::LOCATION_JANE_HOME
    );
    let mut shown = 0;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let log = server.request_log();
        for r in log.iter().skip(shown) {
            if r.status.is_none() && r.fault.is_none() {
                // Still in flight; print it when it finishes.
                break;
            }
            shown += 1;
            let status = r.status.map_or("dropped".to_string(), |s| s.to_string());
            let query = r
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let ignored = if r.ignored.is_empty() {
                String::new()
            } else {
                format!("  IGNORED: {}", r.ignored.join(", "))
            };
            println!("{status} {} {}{query}{ignored}", r.method, r.path);
        }
    }
}

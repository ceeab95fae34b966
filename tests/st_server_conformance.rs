//! Conformance tests for the ServiceTitan test server itself, over plain HTTP: it must behave
//! like the documented API (servicetitan-api.md, the OpenAPI documents) before callbox's own
//! tests can trust it.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use support::st_server::seed::*;
use support::st_server::{DropMode, Fault, FaultPlan, FaultRule, StServer, StServerConfig};

const APP_GUID: &str = "9f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b";

/// A tiny client: plain HTTP, the two headers every API call needs.
struct Api {
    http: reqwest::Client,
    base: String,
    tenant: i64,
    token: String,
    app_key: String,
}

struct Answer {
    status: StatusCode,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Api {
    async fn connect(server: &StServer) -> Api {
        let http = http_client();
        let token = fetch_token(&http, server, &server.config().client_secret).await;
        assert_eq!(token.0, StatusCode::OK, "{}", token.1);
        Api {
            http,
            base: server.base_url(),
            tenant: server.tenant_id(),
            token: token.1["access_token"].as_str().unwrap().to_string(),
            app_key: server.config().app_key.clone(),
        }
    }

    fn url(&self, module: &str, rest: &str) -> String {
        format!("{}/{module}/v2/tenant/{}/{rest}", self.base, self.tenant)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let r = req
            .header("Authorization", format!("Bearer {}", self.token))
            .header("ST-App-Key", &self.app_key)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    async fn get(&self, module: &str, rest: &str) -> Answer {
        self.send(self.http.get(self.url(module, rest))).await
    }

    async fn post(&self, module: &str, rest: &str, body: &Value) -> Answer {
        self.send(self.http.post(self.url(module, rest)).json(body))
            .await
    }

    async fn put(&self, module: &str, rest: &str, body: &Value) -> Answer {
        self.send(self.http.put(self.url(module, rest)).json(body))
            .await
    }

    async fn patch(&self, module: &str, rest: &str, body: &Value) -> Answer {
        self.send(self.http.patch(self.url(module, rest)).json(body))
            .await
    }
}

async fn fetch_token(
    http: &reqwest::Client,
    server: &StServer,
    secret: &str,
) -> (StatusCode, Value) {
    let r = http
        .post(server.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            server.config().client_id,
            secret
        ))
        .send()
        .await
        .expect("token request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn shop() -> StServer {
    let config = StServerConfig::default();
    StServer::start_seeded(config.clone(), hvac_shop(&config))
}

/// A valid `JobCreateRequest` for Jane, tomorrow 08:00 local (the morning arrival window).
fn job_request(server: &StServer, call_id: &str) -> Value {
    let (start, _) = tomorrow_morning(server);
    let end = start + chrono::Duration::hours(2);
    json!({
        "customerId": CUSTOMER_JANE, "locationId": LOCATION_JANE_HOME,
        "businessUnitId": BU_HVAC_SERVICE, "jobTypeId": JT_NO_COOL, "priority": "High",
        "campaignId": CAMPAIGN_GOOGLE_ADS,
        "appointments": [{
            "start": start.to_rfc3339(), "end": end.to_rfc3339(),
            "arrivalWindowStart": start.to_rfc3339(),
            "arrivalWindowEnd": (start + chrono::Duration::hours(4)).to_rfc3339(),
        }],
        "summary": "No cooling upstairs",
        "externalData": { "applicationGuid": APP_GUID,
                          "externalData": [{ "key": "callId", "value": call_id }] },
    })
}

/// Tomorrow's morning arrival window (08:00–12:00 tenant-local) in UTC.
fn tomorrow_morning(
    server: &StServer,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use chrono::TimeZone;
    let offset =
        chrono::FixedOffset::east_opt(server.config().tenant_utc_offset_minutes * 60).unwrap();
    let day = chrono::Utc::now().with_timezone(&offset).date_naive() + chrono::Duration::days(1);
    let start = offset
        .from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    (start, start + chrono::Duration::hours(4))
}

// ---------------------------------------------------------------------------------------------
// Auth and gateway

#[tokio::test]
async fn token_endpoint_and_gateway_checks() {
    let server = shop();
    let http = http_client();

    let (status, body) = fetch_token(&http, &server, "wrong").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({ "error": "invalid_client" }));

    let (status, body) = fetch_token(&http, &server, &server.config().client_secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["scope"].as_str().unwrap().contains("tn.jpm.jobs:w"));
    assert_eq!(server.token_requests(), 2);
    assert_eq!(server.tokens_issued(), 1);

    let api = Api::connect(&server).await;
    let url = api.url("crm", "customers");
    // No bearer token: the gateway's 401.
    let r = http
        .get(&url)
        .header("ST-App-Key", &api.app_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statusCode"], 401);
    // No app key.
    let r = http.get(&url).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The app key as a query parameter is accepted (spec security scheme).
    let r = http
        .get(format!("{url}?servicetitanapplicationkey={}", api.app_key))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Another tenant's path: 404.
    let other = url.replace(&api.tenant.to_string(), "42");
    let r = http
        .get(other)
        .bearer_auth(&api.token)
        .header("ST-App-Key", &api.app_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // An unknown path: 404, logged without an operation.
    let r = api.get("crm", "customerz").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(server
        .request_log()
        .iter()
        .any(|e| e.path.ends_with("/customerz") && e.operation_id.is_none()));
}

#[tokio::test]
async fn tokens_expire_and_can_be_revoked() {
    let config = StServerConfig {
        token_lifetime: Duration::from_millis(1200),
        ..StServerConfig::default()
    };
    let server = StServer::start_seeded(config.clone(), hvac_shop(&config));
    let mut api = Api::connect(&server).await;
    assert_eq!(api.get("crm", "customers").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = api.get("crm", "customers").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key("www-authenticate"));

    api = Api::connect(&server).await;
    assert_eq!(api.get("crm", "customers").await.status, StatusCode::OK);
    server.revoke_tokens();
    assert_eq!(
        api.get("crm", "customers").await.status,
        StatusCode::UNAUTHORIZED
    );

    // A fault revokes the token early, mid-run.
    api = Api::connect(&server).await;
    server.set_faults(
        FaultPlan::none().with(
            FaultRule::new(Fault::RevokeToken)
                .on(&["Jobs_GetList"])
                .first(1),
        ),
    );
    assert_eq!(
        api.get("jpm", "jobs").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("crm", "customers").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.tokens_issued(), 3);
}

#[tokio::test]
async fn missing_scope_is_403() {
    let server = shop();
    server.set_scopes(&["tn.crm.customers:r"]);
    let api = Api::connect(&server).await;
    assert_eq!(api.get("crm", "customers").await.status, StatusCode::OK);
    let r = api.get("jpm", "jobs").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["statusCode"], 403);
}

// ---------------------------------------------------------------------------------------------
// Validation: 400 ApiErrorResponse naming the field

#[tokio::test]
async fn customer_create_validation_names_fields() {
    let server = shop();
    let api = Api::connect(&server).await;
    let r = api
        .post(
            "crm",
            "customers",
            &json!({
                "address": { "street": "1 Main St", "city": "Austin", "state": "TX", "country": "USA" },
                "locations": [{ "name": "Home", "address": { "street": "", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA" } }],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for key in ["type", "title", "status", "traceId", "errors", "data"] {
        assert!(
            r.body.get(key).is_some(),
            "ApiErrorResponse lacks {key}: {}",
            r.body
        );
    }
    assert_eq!(r.body["status"], 400);
    let errors = r.body["errors"].as_object().unwrap();
    assert_eq!(errors["Name"][0], "The Name field is required.");
    assert!(errors.contains_key("Address.Zip"), "{errors:?}");
    assert!(
        errors.contains_key("Locations[0].Address.Street"),
        "{errors:?}"
    );

    // A bad enum member: the JSON conversion error, keyed by JSON path.
    let mut body = json!({
        "name": "Sam Smith",
        "address": { "street": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA" },
        "locations": [{ "name": "Home",
                        "address": { "street": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA" },
                        "contacts": [{ "type": "Cell", "value": "5125550100" }] }],
    });
    let r = api.post("crm", "customers", &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["errors"]["$.locations[0].contacts[0].type"].is_array(),
        "{}",
        r.body
    );

    // Fixed: created, with one location and the contact copied to the customer; an unknown
    // property is ignored (and logged).
    body["locations"][0]["contacts"][0]["type"] = json!("MobilePhone");
    body["email"] = json!("sam@example.com");
    body["externalData"] = json!({ "applicationGuid": APP_GUID, "externalData": [{ "key": "callId", "value": "c-1" }] });
    let r = api.post("crm", "customers", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["locations"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["contacts"][0]["value"], "5125550100");
    assert_eq!(r.body["externalData"][0]["value"], "c-1");
    let customer_id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["locations"][0]["customerId"], customer_id);
    assert!(server.customers().iter().any(|c| c.id == customer_id));
    let logged = server.requests_for("Customers_Create");
    assert_eq!(logged.last().unwrap().ignored, vec!["$.email".to_string()]);

    // Not JSON: 415.
    let r = api
        .send(api.http.post(api.url("crm", "customers")).body("name=x"))
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn job_create_validation() {
    let server = shop();
    let api = Api::connect(&server).await;

    let mut body = job_request(&server, "call-1");
    body.as_object_mut().unwrap().remove("campaignId");
    let r = api.post("jpm", "jobs", &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"]["CampaignId"].is_array(), "{}", r.body);

    // Job type mapped to another business unit; location of another customer; end before start.
    let mut body = job_request(&server, "call-1");
    body["jobTypeId"] = json!(JT_LEAK);
    body["locationId"] = json!(LOCATION_ACME_OFFICE);
    body["appointments"][0]["end"] = body["appointments"][0]["start"].clone();
    let r = api.post("jpm", "jobs", &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let errors = r.body["errors"].as_object().unwrap();
    for key in ["JobTypeId", "LocationId", "Appointments[0].End"] {
        assert!(errors.contains_key(key), "{key} missing: {errors:?}");
    }

    // A customer ID passed as the location ID is not found (ID ranges differ).
    let mut body = job_request(&server, "call-1");
    body["locationId"] = json!(CUSTOMER_JANE);
    assert_eq!(
        api.post("jpm", "jobs", &body).await.status,
        StatusCode::BAD_REQUEST
    );

    // Numbers as strings bind (ASP.NET web defaults); a wrong type does not.
    let mut body = job_request(&server, "call-1");
    body["customerId"] = json!(CUSTOMER_JANE.to_string());
    let r = api.post("jpm", "jobs", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["jobStatus"], "Scheduled");
    assert_eq!(r.body["appointmentCount"], 1);
    let first = r.body["firstAppointmentId"].as_i64().unwrap();
    let job_number = r.body["jobNumber"].as_str().unwrap().to_string();
    body["customerId"] = json!(true);
    let r = api.post("jpm", "jobs", &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"]["$.customerId"].is_array());

    let jobs = server.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_number, job_number);
    assert_eq!(jobs[0].appointment_ids, vec![first]);
    let r = api
        .get("jpm", &format!("appointments?jobId={}", jobs[0].id))
        .await;
    assert_eq!(r.body["data"][0]["id"], first);
}

// ---------------------------------------------------------------------------------------------
// Paging and filters

#[tokio::test]
async fn paging_envelope() {
    let server = shop();
    let api = Api::connect(&server).await;
    for i in 0..5 {
        let body = json!({
            "name": format!("Customer {i}"),
            "address": { "street": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA" },
            "locations": [{ "name": "Home", "address": { "street": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA" } }],
        });
        assert_eq!(
            api.post("crm", "customers", &body).await.status,
            StatusCode::OK
        );
    }
    // 7 customers: pages of 3.
    let r = api.get("crm", "customers?pageSize=3").await;
    assert_eq!(r.body["page"], 1);
    assert_eq!(r.body["pageSize"], 3);
    assert_eq!(r.body["hasMore"], true);
    assert_eq!(r.body["totalCount"], Value::Null);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    let r = api
        .get("crm", "customers?pageSize=3&page=3&includeTotal=true")
        .await;
    assert_eq!(r.body["hasMore"], false);
    assert_eq!(r.body["totalCount"], 7);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    // Default page size 50.
    assert_eq!(api.get("crm", "customers").await.body["pageSize"], 50);
    // Beyond the documented range: 400; within it but over the cap: served as 500.
    let r = api.get("crm", "customers?pageSize=6000").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"]["PageSize"].is_array());
    assert_eq!(
        api.get("crm", "customers?pageSize=1000").await.body["pageSize"],
        500
    );
    // Sorting.
    let r = api.get("crm", "customers?sort=-Id&pageSize=1").await;
    assert!(r.body["data"][0]["id"].as_i64().unwrap() > CUSTOMER_ACME);
}

#[tokio::test]
async fn phone_filter_matches_digits() {
    let server = shop();
    let api = Api::connect(&server).await;
    for phone in [
        "8432609814",
        "(843)%20260-9814",
        "843-260-9814",
        "843.260.9814",
    ] {
        let r = api
            .get("crm", &format!("customers?phone={phone}&includeTotal=true"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["totalCount"], 1, "phone={phone}");
        assert_eq!(r.body["data"][0]["id"], CUSTOMER_JANE);
    }
    // E.164 is not matched: send 10 digits (servicetitan-api.md §2.1).
    let r = api.get("crm", "customers?phone=%2B18432609814").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    let r = api.get("crm", "customers?phone=8430000000").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    // Then the customer's locations.
    let r = api
        .get("crm", &format!("locations?customerId={CUSTOMER_ACME}"))
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    // The dialled number maps to a campaign.
    let r = api
        .get("marketing", "campaigns?campaignPhoneNumber=8435550100")
        .await;
    assert_eq!(r.body["data"][0]["id"], CAMPAIGN_GOOGLE_ADS);
    let r = api.get("marketing", "campaigns").await;
    assert!(r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["isDefaultCampaign"] == true && c["id"] == CAMPAIGN_DEFAULT));
}

#[tokio::test]
async fn unknown_filters_are_silently_ignored() {
    let server = shop();
    let api = Api::connect(&server).await;
    // The real API's trap: a misspelt filter returns the unfiltered page with 200.
    let r = api
        .get("crm", "customers?phoneNumber=8432609814&includeTotal=true")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalCount"], 2);
    let logged = server.requests_for("Customers_GetList");
    assert_eq!(
        logged.last().unwrap().ignored,
        vec!["phoneNumber".to_string()]
    );

    // Plural technicianIds on shifts is ignored too; the singular filters.
    let all = api
        .get(
            "dispatch",
            "technician-shifts?includeTotal=true&pageSize=500",
        )
        .await;
    let plural = api
        .get(
            "dispatch",
            &format!("technician-shifts?technicianIds={TECH_BOB}&includeTotal=true"),
        )
        .await;
    assert_eq!(plural.body["totalCount"], all.body["totalCount"]);
    let singular = api
        .get(
            "dispatch",
            &format!(
                "technician-shifts?technicianId={TECH_BOB}&shiftType=OnCall&includeTotal=true"
            ),
        )
        .await;
    let n = singular.body["totalCount"].as_i64().unwrap();
    assert!(n > 0 && n < all.body["totalCount"].as_i64().unwrap());
    assert!(singular.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["technicianId"] == TECH_BOB && s["shiftType"] == "OnCall"));

    // More than 50 IDs: 400 with the live message.
    let ids: Vec<String> = (1..=51).map(|i| i.to_string()).collect();
    let r = api
        .get("crm", &format!("customers?ids={}", ids.join(",")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["errors"]["Ids"][0],
        "Simple IDs lookup should not exceed 50 ids"
    );

    // A declared filter this server does not implement is refused loudly, never skipped.
    let r = api.get("crm", "customers?latitude=32.7").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
}

// ---------------------------------------------------------------------------------------------
// Rate limit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_over_60_per_second_get_429_with_retry_after() {
    let server = shop();
    let api = std::sync::Arc::new(Api::connect(&server).await);
    let mut tasks = Vec::new();
    for _ in 0..90 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let r = api.get("settings", "business-units").await;
            (r.status, r.headers.get("retry-after").cloned(), r.body)
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                let secs: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
                assert!(secs >= 1);
                assert_eq!(body["statusCode"], 429);
                assert!(body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Rate limit is exceeded."));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok <= 60, "ok={ok}");
    assert!(limited >= 30, "limited={limited}");
    assert_eq!(server.rate_limited_count(), limited);
    assert!(server.max_requests_in_any_1s_window() >= 61);
}

#[tokio::test]
async fn paced_client_stays_under_the_limit() {
    let server = shop();
    let api = Api::connect(&server).await;
    for _ in 0..30 {
        assert_eq!(
            api.get("settings", "technicians").await.status,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.max_requests_in_any_1s_window() <= 60);
    assert_eq!(server.rate_limited_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn commit_then_drop_really_commits() {
    let config = StServerConfig {
        hang_for: Duration::from_secs(5),
        ..StServerConfig::default()
    };
    let server = StServer::start_seeded(config.clone(), hvac_shop(&config));
    let api = Api::connect(&server).await;

    // Close: the connection ends without an answer.
    server.set_faults(
        FaultPlan::none().with(
            FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                .on(&["Jobs_Create"])
                .first(1),
        ),
    );
    let body = job_request(&server, "call-close");
    let err = api
        .http
        .post(api.url("jpm", "jobs"))
        .bearer_auth(&api.token)
        .header("ST-App-Key", &api.app_key)
        .json(&body)
        .send()
        .await;
    assert!(err.is_err(), "the answer must never arrive: {err:?}");
    let jobs = server.jobs();
    assert_eq!(jobs.len(), 1, "the write committed");
    assert_eq!(jobs[0].external_value("callId"), Some("call-close"));
    // The client's way out: look the job up by external data before retrying.
    let r = api
        .get(
            "jpm",
            &format!("jobs?externalDataApplicationGuid={APP_GUID}&externalDataKey=callId&externalDataValues=call-close"),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["externalData"][0]["value"], "call-close");
    // Without the GUID the lookup is refused rather than silently unfiltered.
    let r = api
        .get(
            "jpm",
            "jobs?externalDataKey=callId&externalDataValues=call-close",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Hang: the client's own timeout fires; the write is there.
    server.set_faults(
        FaultPlan::none().with(
            FaultRule::new(Fault::CommitThenDrop(DropMode::Hang))
                .on(&["Jobs_CreateNote"])
                .always(),
        ),
    );
    let job_id = jobs[0].id;
    let err = api
        .http
        .post(api.url("jpm", &format!("jobs/{job_id}/notes")))
        .bearer_auth(&api.token)
        .header("ST-App-Key", &api.app_key)
        .timeout(Duration::from_millis(400))
        .json(&json!({ "text": "Caller says the unit is 10 years old", "pinToTop": true }))
        .send()
        .await;
    assert!(err.unwrap_err().is_timeout());
    let notes = server.notes(job_id);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].is_pinned);
    let logged = server.requests_for("Jobs_CreateNote");
    assert_eq!(logged[0].status, None);

    // DropBeforeCommit: nothing is written.
    server.set_faults(
        FaultPlan::none().with(
            FaultRule::new(Fault::DropBeforeCommit(DropMode::Close))
                .on(&["Customers_Create"])
                .first(1),
        ),
    );
    let before = server.customers().len();
    let err = api
        .http
        .post(api.url("crm", "customers"))
        .bearer_auth(&api.token)
        .header("ST-App-Key", &api.app_key)
        .json(&json!({ "name": "X", "address": { "street": "1", "city": "A", "state": "TX", "zip": "1", "country": "USA" },
                       "locations": [{ "name": "X", "address": { "street": "1", "city": "A", "state": "TX", "zip": "1", "country": "USA" } }] }))
        .send()
        .await;
    assert!(err.is_err());
    assert_eq!(server.customers().len(), before);
}

#[tokio::test]
async fn injected_statuses_and_slow_answers() {
    let server = shop();
    let api = Api::connect(&server).await;
    server.set_faults(
        FaultPlan::none()
            .with(
                FaultRule::new(Fault::RateLimited {
                    retry_after_secs: 7,
                })
                .on(&["JobTypes_GetList"])
                .first(1),
            )
            .with(
                FaultRule::new(Fault::ServerError(503))
                    .on(&["JobTypes_GetList"])
                    .nth(&[2]),
            )
            .with(
                FaultRule::new(Fault::ServerError(500))
                    .on(&["JobTypes_GetList"])
                    .nth(&[3]),
            )
            .with(
                FaultRule::new(Fault::Forbidden)
                    .on(&["BusinessUnits_GetList"])
                    .first(1),
            )
            .with(
                FaultRule::new(Fault::NotFound)
                    .on(&["Customers_Get"])
                    .first(1),
            )
            .with(
                FaultRule::new(Fault::Conflict)
                    .on(&["Appointments_Reschedule"])
                    .first(1),
            )
            .with(
                FaultRule::new(Fault::Slow(Duration::from_millis(600)))
                    .on(&["Technicians_GetList"])
                    .first(1),
            ),
    );
    let r = api.get("jpm", "job-types").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(
        r.body["message"],
        "Rate limit is exceeded. Try again in 7 seconds."
    );
    assert_eq!(
        api.get("jpm", "job-types").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let r = api.get("jpm", "job-types").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.body["traceId"].is_string());
    let r = api
        .get("jpm", "job-types?orderBy=id&orderByDirection=desc")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"][0]["id"], JT_LEAK);
    assert_eq!(r.body["data"][0]["duration"], 7200);
    assert_eq!(
        api.get("settings", "business-units").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.get("crm", &format!("customers/{CUSTOMER_JANE}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("crm", &format!("customers/{CUSTOMER_JANE}"))
            .await
            .status,
        StatusCode::OK
    );

    // Slow: a client with a short timeout gives up; a patient one gets the answer.
    let slow = api
        .http
        .get(api.url("settings", "technicians"))
        .bearer_auth(&api.token)
        .header("ST-App-Key", &api.app_key)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    assert_eq!(
        api.get("settings", "technicians").await.status,
        StatusCode::OK
    );
    assert_eq!(server.faults().rules[0].fired(), 1);

    // Token endpoint throttling, injected.
    server.set_faults(
        FaultPlan::none().with(
            FaultRule::new(Fault::RateLimited {
                retry_after_secs: 30,
            })
            .on_token()
            .first(1),
        ),
    );
    let (status, _) = fetch_token(&api.http, &server, &server.config().client_secret).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

// ---------------------------------------------------------------------------------------------
// Capacity and the job life cycle

#[tokio::test]
async fn capacity_drops_after_booking_and_returns_after_cancel() {
    let server = shop();
    let api = Api::connect(&server).await;
    let (window_start, window_end) = tomorrow_morning(&server);
    let request = json!({
        "startsOnOrAfter": window_start.to_rfc3339(),
        "endsOnOrBefore": window_end.to_rfc3339(),
        "businessUnitIds": [BU_HVAC_SERVICE],
        "jobTypeId": JT_NO_COOL,
        "skillBasedAvailability": true,
    });

    let mut missing = request.clone();
    missing
        .as_object_mut()
        .unwrap()
        .remove("skillBasedAvailability");
    let r = api.post("dispatch", "capacity", &missing).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["errors"]["SkillBasedAvailability"].is_array(),
        "{}",
        r.body
    );

    let r = api.post("dispatch", "capacity", &request).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let frames = r.body["availabilities"].as_array().unwrap();
    assert_eq!(frames.len(), 1, "{frames:?}");
    let frame = &frames[0];
    assert_eq!(
        frame["startUtc"],
        json!(support::st_server::schema::format_utc(window_start))
    );
    // start/end are tenant-local wall time: no offset, 08:00.
    assert!(
        frame["start"].as_str().unwrap().ends_with("T08:00:00"),
        "{frame}"
    );
    let total = frame["totalAvailability"].as_f64().unwrap();
    let open_before = frame["openAvailability"].as_f64().unwrap();
    assert!(total > 0.0 && open_before == total);
    assert_eq!(frame["isAvailable"], true);

    let job = api
        .post("jpm", "jobs", &job_request(&server, "call-cap"))
        .await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.body);
    let r = api.post("dispatch", "capacity", &request).await;
    let open_after = r.body["availabilities"][0]["openAvailability"]
        .as_f64()
        .unwrap();
    assert_eq!(open_after, open_before - 2.0);

    // Assign the on-call technician, reschedule, add a note, cancel.
    let job_id = job.body["id"].as_i64().unwrap();
    let appointment_id = job.body["firstAppointmentId"].as_i64().unwrap();
    let r = api
        .post(
            "dispatch",
            "appointment-assignments/assign-technicians",
            &json!({ "jobAppointmentId": appointment_id, "technicianIds": [TECH_BOB] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .get(
            "dispatch",
            &format!("appointment-assignments?jobId={job_id}"),
        )
        .await;
    assert_eq!(r.body["data"][0]["technicianId"], TECH_BOB);
    let later = window_start + chrono::Duration::hours(1);
    let r = api
        .patch(
            "jpm",
            &format!("appointments/{appointment_id}/reschedule"),
            &json!({ "start": later.to_rfc3339(), "end": (later + chrono::Duration::hours(2)).to_rfc3339() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .post(
            "jpm",
            &format!("jobs/{job_id}/notes"),
            &json!({ "text": "Gate code 1234" }),
        )
        .await;
    assert_eq!(r.body["isPinned"], false);
    assert_eq!(
        api.get("jpm", &format!("jobs/{job_id}/notes")).await.body["data"][0]["text"],
        "Gate code 1234"
    );

    let r = api
        .put(
            "jpm",
            &format!("jobs/{job_id}/cancel"),
            &json!({ "reasonId": CANCEL_REASON_DUPLICATE }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"]["Memo"].is_array());
    let r = api
        .put(
            "jpm",
            &format!("jobs/{job_id}/cancel"),
            &json!({ "reasonId": CANCEL_REASON_DUPLICATE, "memo": "booked twice" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(server.jobs()[0].job_status, "Canceled");
    let r = api.post("dispatch", "capacity", &request).await;
    assert_eq!(
        r.body["availabilities"][0]["openAvailability"]
            .as_f64()
            .unwrap(),
        open_before
    );
    // A canceled job's appointment cannot be rescheduled.
    let r = api
        .patch(
            "jpm",
            &format!("appointments/{appointment_id}/reschedule"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn leads_and_bookings() {
    let server = shop();
    let api = Api::connect(&server).await;
    let r = api
        .post(
            "crm",
            "leads",
            &json!({ "campaignId": CAMPAIGN_DEFAULT, "summary": "Wants a quote" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"]["CallReasonId"].is_array());
    let r = api
        .post(
            "crm",
            "leads",
            &json!({ "campaignId": CAMPAIGN_DEFAULT, "summary": "Wants a quote", "callReasonId": CALL_REASON_NEEDS_SERVICE }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "Open");
    assert_eq!(server.leads().len(), 1);

    let path = format!("booking-provider/{BOOKING_PROVIDER}/bookings");
    let booking = json!({
        "source": "callbox", "name": "Pat Caller", "summary": "No heat", "isFirstTimeClient": true,
        "externalId": "call-77", "contacts": [{ "type": "MobilePhone", "value": "8435550123" }],
        "priority": "Urgent",
    });
    let mut incomplete = booking.clone();
    incomplete.as_object_mut().unwrap().remove("externalId");
    assert_eq!(
        api.post("crm", &path, &incomplete).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = api.post("crm", &path, &booking).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "New");
    let r = api.get("crm", &format!("{path}?externalId=call-77")).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = api.get("crm", &format!("{path}?externalId=call-78")).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    // An unknown booking provider: 404.
    assert_eq!(
        api.post("crm", "booking-provider/1/bookings", &booking)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn reference_data_shapes() {
    let server = shop();
    let api = Api::connect(&server).await;
    let r = api.get("dispatch", "arrival-windows").await;
    assert_eq!(r.body["data"][0]["start"], "08:00:00");
    assert_eq!(r.body["data"][0]["duration"], "04:00:00");
    let r = api.get("dispatch", "business-hours").await;
    assert_eq!(
        r.body["weekdays"][0],
        json!({ "fromHour": 8, "toHour": 17 })
    );
    let r = api.get("jbce", "call-reasons").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    let r = api.get("jpm", "job-cancel-reasons").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    let r = api
        .get("settings", &format!("technicians/{TECH_BOB}"))
        .await;
    assert_eq!(r.body["phoneNumber"], "8435550202");
    let r = api.get("jpm", &format!("job-types?ids={JT_NO_COOL}")).await;
    assert_eq!(
        r.body["data"][0]["businessUnitIds"],
        json!([BU_HVAC_SERVICE])
    );
    let r = api
        .get("crm", &format!("customers/{CUSTOMER_ACME}/contacts"))
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    // The job type list takes orderBy, not sort: `sort` is ignored.
    let r = api.get("jpm", "job-types?sort=-Id").await;
    assert_eq!(r.body["data"][0]["id"], JT_NO_COOL);
    assert_eq!(
        server
            .requests_for("JobTypes_GetList")
            .last()
            .unwrap()
            .ignored,
        vec!["sort".to_string()]
    );
}

#[tokio::test]
async fn token_endpoint_throttles_when_configured() {
    let config = StServerConfig {
        token_requests_per_minute: Some(2),
        ..StServerConfig::default()
    };
    let server = StServer::start(config);
    let http = http_client();
    let secret = server.config().client_secret.clone();
    assert_eq!(fetch_token(&http, &server, &secret).await.0, StatusCode::OK);
    assert_eq!(fetch_token(&http, &server, &secret).await.0, StatusCode::OK);
    assert_eq!(
        fetch_token(&http, &server, &secret).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(server.token_requests(), 3);
    assert_eq!(server.tokens_issued(), 2);
    let logged = server.requests_for("Token");
    assert_eq!(logged[0].body.as_ref().unwrap()["client_secret"], "***");
}

#[test]
fn fault_schedules_count_matches_per_rule() {
    let mut plan = FaultPlan::seeded(7)
        .with(
            FaultRule::new(Fault::ServerError(502))
                .on(&["Jobs_Create"])
                .nth(&[2, 4]),
        )
        .with(
            FaultRule::new(Fault::Conflict)
                .on(&["Jobs_Create"])
                .every(3),
        )
        .with(FaultRule::new(Fault::NotFound).probability(0.0));
    let picks: Vec<Option<Fault>> = (0..6)
        .map(|_| plan.pick(Some("Jobs_Create"), false))
        .collect();
    assert_eq!(
        picks,
        vec![
            None,
            Some(Fault::ServerError(502)),
            Some(Fault::Conflict),
            Some(Fault::ServerError(502)),
            None,
            Some(Fault::Conflict),
        ]
    );
    // Other operations and the token endpoint are untouched by operation rules.
    assert_eq!(plan.pick(Some("Jobs_Get"), false), None);
    assert_eq!(plan.pick(None, true), None);
    assert_eq!(plan.rules[0].fired(), 2);
    assert_eq!(plan.rules[1].fired(), 2);
}

/// A plain HTTP client for talking to the test server. reqwest is built with
/// `rustls-no-provider` (the box installs ring itself), so install it here too.
fn http_client() -> reqwest::Client {
    callbox::servicetitan::install_crypto_provider();
    reqwest::Client::new()
}

#[tokio::test]
async fn memberships_filter_by_customer_and_status() {
    let server = shop();
    let api = Api::connect(&server).await;
    let r = api
        .get(
            "memberships",
            &format!("memberships?customerIds={CUSTOMER_JANE}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["customerId"], CUSTOMER_JANE);
    assert_eq!(data[0]["status"], "Active");
    // Every field `CustomerMembershipResponse` marks required is there.
    for field in [
        "id",
        "createdOn",
        "modifiedOn",
        "followUpOn",
        "billingFrequency",
        "status",
        "followUpStatus",
        "active",
        "initialDeferredRevenue",
        "businessUnitId",
        "customerId",
        "membershipTypeId",
        "customFields",
    ] {
        assert!(data[0].get(field).is_some(), "{field} missing");
    }
    // Active only by default, like the other lists; Acme's expired one with active=Any.
    let r = api
        .get("memberships", "memberships?includeTotal=true")
        .await;
    assert_eq!(r.body["totalCount"], 1);
    let r = api
        .get(
            "memberships",
            &format!("memberships?customerIds={CUSTOMER_ACME}&status=Expired&active=Any"),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], MEMBERSHIP_ACME_EXPIRED);
    let r = api
        .get(
            "memberships",
            &format!("memberships?customerIds={CUSTOMER_ACME}&status=Active&active=Any"),
        )
        .await;
    assert!(r.body["data"].as_array().unwrap().is_empty());
    // A status outside the enum is a 400; a misspelt filter is ignored (unfiltered 200).
    let r = api.get("memberships", "memberships?status=Lapsed").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .get(
            "memberships",
            &format!("memberships?customerId={CUSTOMER_ACME}&active=Any&includeTotal=true"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalCount"], 2);
    let logged = server.requests_for("CustomerMemberships_GetList");
    assert_eq!(
        logged.last().unwrap().ignored,
        vec!["customerId".to_string()]
    );
}

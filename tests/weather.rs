//! The outdoor temperature (issue 15) against a local fake of the NWS endpoints
//! (`/points/{lat},{lon}` → `forecastHourly` → the period covering now): the value reaches
//! triage's thresholds; the last value ages from fresh to cached to the climate rule when the
//! fake goes down; it is kept across a restart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};

use callbox::app::weather::{refresh_once, WeatherHandle};
use callbox::dialog::understanding::triage::{triage, EmergencyKind, Triage, TriageContext};
use callbox::weather::{NwsClient, Source, WeatherConfig};

/// What the fake answers and what it saw.
#[derive(Default)]
struct Nws {
    /// The hourly temperature (°F) of the period covering now; `None`: 503 (NWS down).
    temp_f: Option<i32>,
    requests: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Nws>>;

async fn points(
    State(nws): State<Shared>,
    Path(at): Path<String>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let up = {
        let mut nws = nws.lock().unwrap();
        nws.requests
            .push((format!("/points/{at}"), user_agent(&headers)));
        nws.temp_f.is_some()
    };
    if !up {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let body = serde_json::json!({
        "properties": {
            "forecastHourly": format!("http://{host}/gridpoints/MPX/107,71/forecast/hourly"),
        }
    });
    (StatusCode::OK, body.to_string())
}

async fn hourly(State(nws): State<Shared>, headers: HeaderMap) -> impl IntoResponse {
    let temp = {
        let mut nws = nws.lock().unwrap();
        nws.requests.push((
            "/gridpoints/MPX/107,71/forecast/hourly".into(),
            user_agent(&headers),
        ));
        nws.temp_f
    };
    let Some(temp) = temp else {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    };
    let hour = |offset: i64| {
        (Utc::now() + chrono::Duration::hours(offset))
            .format("%Y-%m-%dT%H:00:00+00:00")
            .to_string()
    };
    let body = serde_json::json!({
        "properties": {
            "periods": [
                {"number": 1, "startTime": hour(-1), "endTime": hour(0),
                 "temperature": temp + 5, "temperatureUnit": "F"},
                {"number": 2, "startTime": hour(0), "endTime": hour(1),
                 "temperature": temp, "temperatureUnit": "F"},
                {"number": 3, "startTime": hour(1), "endTime": hour(2),
                 "temperature": temp - 5, "temperatureUnit": "F"},
            ]
        }
    });
    (StatusCode::OK, body.to_string())
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get("user-agent")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn fake_nws(temp_f: Option<i32>) -> (SocketAddr, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Nws {
        temp_f,
        requests: Vec::new(),
    }));
    let app = Router::new()
        .route("/points/{at}", get(points))
        .route("/gridpoints/MPX/107,71/forecast/hourly", get(hourly))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, shared)
}

fn settings(addr: SocketAddr) -> WeatherConfig {
    WeatherConfig {
        enabled: true,
        latitude: Some(44.977_812_3),
        longitude: Some(-93.265_011),
        base_url: format!("http://{addr}"),
        contact: "service@acme-heating.example".into(),
        refresh_secs: 1800,
        max_age_secs: 6 * 3600,
        climate: "cold_north".into(),
        monthly_normal_f: Vec::new(),
    }
}

fn no_heat(outdoor_f: f32) -> Triage {
    let context = TriageContext {
        outdoor_temp_f: Some(outdoor_f),
        ..TriageContext::default()
    };
    triage("my furnace stopped working", &context)
}

#[tokio::test]
async fn the_nws_temperature_decides_whether_no_heat_is_an_emergency() {
    let (addr, nws) = fake_nws(Some(18)).await;
    let settings = settings(addr);
    let mut client = NwsClient::new(&settings).unwrap();
    let temp = client.current_temp_f(Utc::now()).await.unwrap();
    assert_eq!(temp, 18.0, "the period covering now");
    // The defaults' thresholds: no heat at 18 °F is an emergency; at 55 °F it is not.
    assert_eq!(no_heat(temp), Triage::Emergency(EmergencyKind::NoHeat));
    nws.lock().unwrap().temp_f = Some(55);
    let temp = client.current_temp_f(Utc::now()).await.unwrap();
    assert_eq!(temp, 55.0);
    assert!(
        matches!(no_heat(temp), Triage::Routine(_)),
        "{:?}",
        no_heat(temp)
    );
    let requests = nws.lock().unwrap().requests.clone();
    // /points once (four decimals at most, as NWS writes them), then the hourly forecast
    // each time.
    let paths: Vec<&str> = requests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/points/44.9778,-93.265",
            "/gridpoints/MPX/107,71/forecast/hourly",
            "/gridpoints/MPX/107,71/forecast/hourly"
        ]
    );
    for (_, agent) in &requests {
        assert!(agent.starts_with("callbox/"), "{agent}");
        assert!(agent.contains("(service@acme-heating.example)"), "{agent}");
    }
}

#[tokio::test]
async fn offline_the_last_value_ages_to_cached_then_the_climate_rule_answers() {
    let (addr, nws) = fake_nws(Some(12)).await;
    let data = tempfile::tempdir().unwrap();
    let settings = settings(addr);
    let handle = WeatherHandle::new(&settings, "America/Chicago", data.path());
    // Nothing fetched yet: the climate rule ("cold_north", by the shop's month).
    let jan = at("2027-01-15T18:00:00Z");
    let first = handle.outdoor(jan);
    assert_eq!(first.source, Source::Climate);
    assert_eq!(first.temp_f, 16.0);
    // July by the same rule: no heat then is not an emergency, and never "always emergency".
    let july = handle.outdoor(at("2027-07-15T18:00:00Z"));
    assert_eq!((july.source, july.temp_f), (Source::Climate, 73.0));
    assert!(matches!(no_heat(july.temp_f), Triage::Routine(_)));

    let mut client = NwsClient::new(&settings).unwrap();
    assert!(refresh_once(&mut client, &handle).await);
    let now = Utc::now();
    let fresh = handle.outdoor(now);
    assert_eq!((fresh.source, fresh.temp_f), (Source::Nws, 12.0));

    // The NWS goes down: the refresh fails and the last value stays, aging.
    nws.lock().unwrap().temp_f = None;
    assert!(!refresh_once(&mut client, &handle).await);
    let later = handle.outdoor(now + chrono::Duration::minutes(59));
    assert_eq!(later.source, Source::Nws, "within two refresh periods");
    let aging = handle.outdoor(now + chrono::Duration::hours(2));
    assert_eq!((aging.source, aging.temp_f), (Source::Cached, 12.0));
    assert!(aging.age_secs.unwrap() >= 7200);
    assert_eq!(
        no_heat(aging.temp_f),
        Triage::Emergency(EmergencyKind::NoHeat)
    );
    let stale = handle.outdoor(now + chrono::Duration::hours(7));
    assert_eq!(stale.source, Source::Climate);

    // A restart while offline still has the last value, from <data_dir>/weather.json.
    let restarted = WeatherHandle::new(&settings, "America/Chicago", data.path());
    let kept = restarted.outdoor(now + chrono::Duration::hours(2));
    assert_eq!((kept.source, kept.temp_f), (Source::Cached, 12.0));
}

#[tokio::test]
async fn a_forecast_link_elsewhere_or_an_outdated_forecast_is_not_used() {
    // A points answer whose forecastHourly leaves the configured origin.
    let app = Router::new().route(
        "/points/{at}",
        get(|| async { r#"{"properties": {"forecastHourly": "http://127.0.0.2:9/elsewhere"}}"# }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut client = NwsClient::new(&settings(addr)).unwrap();
    let err = client.current_temp_f(Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("points away"), "{err}");

    // A forecast whose periods are all in the past.
    let (addr, _nws) = fake_nws(Some(30)).await;
    let mut client = NwsClient::new(&settings(addr)).unwrap();
    let err = client
        .current_temp_f(Utc::now() + chrono::Duration::hours(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no forecast period"), "{err}");
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

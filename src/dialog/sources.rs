//! What the dialog looks up and where it writes, as small traits the dialog owns: it imports
//! neither `servicetitan` nor `queue` (data flows one way), so the composition root hands it
//! implementations (the ServiceTitan cache for lookups, the queue for records), and tests pass
//! in-memory ones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

use crate::trade::{Address, Payload, RecordId};

/// A customer the caller ID matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownCustomer {
    pub id: i64,
    pub name: String,
    /// Service locations, most used first.
    #[serde(default)]
    pub locations: Vec<ServiceLocation>,
    /// Has an active maintenance membership.
    #[serde(default)]
    pub member: bool,
}

/// A place the shop services for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLocation {
    /// ServiceTitan location id; `None` when only the customer's address is known.
    #[serde(default)]
    pub id: Option<i64>,
    pub address: Address,
    /// The name the office gave it in ServiceTitan ("Home", "Rental", "Mom's place"); empty
    /// when it has none. A caller may choose the location by it.
    #[serde(default)]
    pub name: String,
}

/// A booked appointment the caller may ask about, move or cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    #[serde(default)]
    pub job_id: Option<i64>,
    #[serde(default)]
    pub job_number: Option<String>,
    #[serde(default)]
    pub appointment_id: Option<i64>,
    /// A job this box queued and the sync has not yet carried.
    #[serde(default)]
    pub queue_ref: Option<RecordId>,
    pub start_utc: DateTime<Utc>,
    pub end_utc: DateTime<Utc>,
    /// The technician assigned, by name ("Mike"); `None` = not yet dispatched.
    #[serde(default)]
    pub technician: Option<String>,
    /// What the job is for ("furnace not heating").
    #[serde(default)]
    pub summary: String,
}

/// Caller ID → customers (the box's ServiceTitan cache).
pub trait CustomerDirectory: Send + Sync {
    /// Customers whose contacts include `phone_e164`; empty when none (or never looked up).
    fn by_phone(&self, phone_e164: &str) -> Vec<KnownCustomer>;

    /// Service addresses already known in `city` (any customer's), for the ZIP of a street
    /// the caller names without one; empty when none are known (the default).
    fn addresses_in_city(&self, city: &str) -> Vec<crate::trade::Address> {
        let _ = city;
        Vec::new()
    }
}

/// A caller's upcoming appointments and their technicians.
pub trait Appointments: Send + Sync {
    /// Appointments ending after `now`, soonest first, for the customer (when known) or the
    /// phone number (jobs this box booked for it).
    fn upcoming(
        &self,
        customer_id: Option<i64>,
        phone_e164: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<Appointment>;
}

/// Nobody matched: for callers the box has never seen, and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookups;

impl CustomerDirectory for NoLookups {
    fn by_phone(&self, _: &str) -> Vec<KnownCustomer> {
        Vec::new()
    }
}

impl Appointments for NoLookups {
    fn upcoming(&self, _: Option<i64>, _: Option<&str>, _: DateTime<Utc>) -> Vec<Appointment> {
        Vec::new()
    }
}

/// Why a record could not be made durable; what the caller hears depends on it only in
/// that nothing is called booked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordFailure(pub String);

/// Durable enqueue, synchronously: `Ok` only once the record is on disk. The engine itself
/// never calls it (it emits [`super::engine::Action::Enqueue`]); [`super::engine::drive`]
/// does, for simulate and tests.
pub trait RecordSink {
    fn enqueue(&mut self, payload: &Payload) -> Result<RecordId, RecordFailure>;
}

/// What [`BookingSink::record`] resolves to: the booking reference, or why there is none.
pub type RecordFuture<'a> =
    Pin<Box<dyn Future<Output = Result<RecordId, RecordFailure>> + Send + 'a>>;

/// Durable enqueue on a live call: resolves `Ok` (with the booking reference) only once the
/// record is on disk, so the caller hears "booked" only after that. The call flow
/// ([`super::call_flow`]) awaits it for every [`super::engine::Action::Enqueue`].
pub trait BookingSink: Send + Sync {
    fn record(&self, payload: Payload) -> RecordFuture<'_>;
}

//! CRM operations (`/crm/v2/tenant/{tenant}/...`): customers, contacts, locations, leads,
//! bookings. Shapes follow `tenant-crm-v2.json`.

use super::query::{page_of, Active};
use super::schema::{self, format_stamp, format_utc};
use super::state::*;
use super::{bind, Answer, ApiError, Call, Reply};
use serde::Deserialize;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Parameters each operation declares in the spec (anything else is silently ignored).

const CUSTOMERS_LIST_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "includeTotal",
    "sort",
    "ids",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "excludeAccountingChangesFromModifiedDateRange",
    "name",
    "street",
    "unit",
    "city",
    "state",
    "zip",
    "country",
    "latitude",
    "longitude",
    "phone",
    "active",
    "externalDataApplicationGuid",
    "externalDataKey",
    "externalDataValues",
];
const CONTACT_LIST_PARAMS: &[&str] = &["page", "pageSize", "includeTotal"];
const LOCATIONS_LIST_PARAMS: &[&str] = &[
    "ids",
    "name",
    "customerId",
    "street",
    "unit",
    "city",
    "state",
    "zip",
    "country",
    "latitude",
    "longitude",
    "active",
    "page",
    "pageSize",
    "includeTotal",
    "sort",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "externalDataApplicationGuid",
    "externalDataKey",
    "externalDataValues",
];
/// `Leads_GetList` (tenant-crm-v2): no summary or phone filter.
const LEADS_LIST_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "includeTotal",
    "ids",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "customerId",
    "isProspect",
    "withoutCustomer",
    "status",
    "customerCity",
    "customerState",
    "customerZip",
    "customerCreatedOnOrAfter",
    "customerCreatedBefore",
    "customerModifiedOnOrAfter",
    "sort",
    "genPermUrl",
];

const BOOKINGS_LIST_PARAMS: &[&str] = &[
    "ids",
    "page",
    "pageSize",
    "includeTotal",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "externalId",
    "sort",
];
const NO_PARAMS: &[&str] = &[];

// ---------------------------------------------------------------------------------------------
// Request DTOs (bound from bodies the schema validator has normalised)

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddressIn {
    street: String,
    unit: Option<String>,
    city: String,
    state: String,
    zip: String,
    country: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl AddressIn {
    pub(crate) fn into_address(self) -> Address {
        Address {
            street: self.street,
            unit: self.unit,
            city: self.city,
            state: self.state,
            zip: self.zip,
            country: self.country,
            latitude: self.latitude,
            longitude: self.longitude,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ContactIn {
    #[serde(rename = "type")]
    contact_type: String,
    value: String,
    memo: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomFieldIn {
    pub(crate) type_id: i64,
    pub(crate) value: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct KeyValueIn {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExternalDataIn {
    pub(crate) application_guid: String,
    pub(crate) external_data: Vec<KeyValueIn>,
}

impl ExternalDataIn {
    pub(crate) fn entries(&self) -> Vec<ExternalDataEntry> {
        self.external_data
            .iter()
            .map(|kv| ExternalDataEntry {
                application_guid: self.application_guid.clone(),
                key: kv.key.clone(),
                value: kv.value.clone().unwrap_or_default(),
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewLocationIn {
    name: String,
    address: AddressIn,
    contacts: Option<Vec<ContactIn>>,
    custom_fields: Option<Vec<CustomFieldIn>>,
    tag_type_ids: Option<Vec<i64>>,
    external_data: Option<ExternalDataIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateCustomerIn {
    name: String,
    #[serde(rename = "type")]
    customer_type: Option<String>,
    do_not_mail: Option<bool>,
    do_not_service: Option<bool>,
    locations: Vec<NewLocationIn>,
    address: AddressIn,
    contacts: Option<Vec<ContactIn>>,
    custom_fields: Option<Vec<CustomFieldIn>>,
    tag_type_ids: Option<Vec<i64>>,
    external_data: Option<ExternalDataIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateLocationIn {
    name: String,
    address: AddressIn,
    contacts: Option<Vec<ContactIn>>,
    custom_fields: Option<Vec<CustomFieldIn>>,
    tag_type_ids: Option<Vec<i64>>,
    external_data: Option<ExternalDataIn>,
    customer_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeadCreateIn {
    customer_id: Option<i64>,
    location_id: Option<i64>,
    campaign_id: i64,
    business_unit_id: Option<i64>,
    job_type_id: Option<i64>,
    summary: String,
    tag_type_ids: Option<Vec<i64>>,
    priority: Option<String>,
    call_reason_id: Option<i64>,
    follow_up_date: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookingAddressIn {
    street: String,
    unit: Option<String>,
    city: String,
    state: String,
    zip: String,
    country: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBookingIn {
    source: String,
    name: String,
    address: Option<BookingAddressIn>,
    contacts: Option<Vec<ContactIn>>,
    customer_type: Option<String>,
    start: Option<chrono::DateTime<chrono::Utc>>,
    summary: String,
    campaign_id: Option<i64>,
    business_unit_id: Option<i64>,
    job_type_id: Option<i64>,
    priority: Option<String>,
    is_first_time_client: bool,
    uploaded_images: Option<Vec<String>>,
    is_send_confirmation_email: Option<bool>,
    external_id: String,
}

// ---------------------------------------------------------------------------------------------
// Rendering (response shapes)

pub fn address_json(a: &Address) -> Value {
    json!({
        "street": a.street, "unit": a.unit, "city": a.city, "state": a.state,
        "zip": a.zip, "country": a.country, "latitude": a.latitude, "longitude": a.longitude,
    })
}

fn contact_json(c: &Contact) -> Value {
    json!({ "id": c.id, "type": c.contact_type, "value": c.value, "memo": c.memo })
}

/// `Crm.V2.Customers.CustomerContactWithModifiedOnResponse`.
fn contact_with_dates_json(c: &Contact) -> Value {
    let phone_settings = if c.contact_type == "Email" {
        Value::Null
    } else {
        json!({ "phoneNumber": c.value, "doNotText": false })
    };
    json!({
        "id": c.id, "type": c.contact_type, "value": c.value, "memo": c.memo,
        "modifiedOn": format_stamp(c.modified_on), "phoneSettings": phone_settings,
        "createdOn": format_stamp(c.created_on),
    })
}

pub fn external_json(entries: &[ExternalDataEntry], guid: Option<&str>) -> Value {
    Value::Array(
        external_data_for(entries, guid)
            .into_iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect(),
    )
}

pub fn custom_fields_json(fields: &[CustomField]) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|f| json!({ "typeId": f.type_id, "name": f.name, "value": f.value }))
            .collect(),
    )
}

/// `Crm.V2.Customers.CustomerResponse`.
pub fn customer_json(c: &Customer, guid: Option<&str>) -> Value {
    json!({
        "id": c.id,
        "active": c.active,
        "name": c.name,
        "type": c.customer_type,
        "address": address_json(&c.address),
        "customFields": custom_fields_json(&c.custom_fields),
        "balance": c.balance,
        "tagTypeIds": c.tag_type_ids,
        "doNotMail": c.do_not_mail,
        "doNotService": c.do_not_service,
        "createdOn": format_stamp(c.created_on),
        "createdById": API_USER_ID,
        "modifiedOn": format_stamp(c.modified_on),
        "mergedToId": null,
        "externalData": external_json(&c.external_data, guid),
    })
}

/// `Crm.V2.Locations.LocationResponse`.
pub fn location_json(l: &Location, guid: Option<&str>) -> Value {
    json!({
        "id": l.id,
        "customerId": l.customer_id,
        "active": l.active,
        "name": l.name,
        "address": address_json(&l.address),
        "customFields": custom_fields_json(&l.custom_fields),
        "createdOn": format_stamp(l.created_on),
        "createdById": API_USER_ID,
        "modifiedOn": format_stamp(l.modified_on),
        "mergedToId": null,
        "zoneId": l.zone_id,
        "tagTypeIds": l.tag_type_ids,
        "externalData": external_json(&l.external_data, guid),
        "taxZoneId": null,
    })
}

/// `Crm.V2.Locations.CreateLocationResponse`: the location plus its contacts.
fn created_location_json(l: &Location, guid: Option<&str>) -> Value {
    let mut v = location_json(l, guid);
    v["contacts"] = Value::Array(l.contacts.iter().map(contact_json).collect());
    v
}

fn lead_json(l: &Lead) -> Value {
    json!({
        "id": l.id, "status": l.status, "customerId": l.customer_id, "locationId": l.location_id,
        "businessUnitId": l.business_unit_id, "jobTypeId": l.job_type_id, "priority": l.priority,
        "campaignId": l.campaign_id, "summary": l.summary, "callReasonId": l.call_reason_id,
        "callId": null, "bookingId": null, "manualCallId": null,
        "followUpDate": l.follow_up_date.map(format_utc),
        "createdOn": format_stamp(l.created_on), "createdById": API_USER_ID,
        "modifiedOn": format_stamp(l.modified_on), "tagTypeIds": l.tag_type_ids,
        "dismissingReasonId": null,
        "leadUrl": format!("https://go.servicetitan.com/#/Lead/{}", l.id),
    })
}

fn booking_json(b: &Booking) -> Value {
    json!({
        "id": b.id,
        "source": b.source,
        "createdOn": format_stamp(b.created_on),
        "name": b.name,
        "address": b.address.as_ref().map(|a| json!({
            "street": a.street, "unit": a.unit, "city": a.city, "state": a.state,
            "zip": a.zip, "country": a.country,
        })),
        "customerType": b.customer_type,
        "start": b.start.map(format_utc),
        "summary": b.summary,
        "campaignId": b.campaign_id,
        "businessUnitId": b.business_unit_id,
        "isFirstTimeClient": b.is_first_time_client,
        "uploadedImages": b.uploaded_images,
        "isSendConfirmationEmail": b.is_send_confirmation_email,
        "status": b.status,
        "dismissingReasonId": null,
        "jobId": b.job_id,
        "externalId": b.external_id,
        "priority": b.priority,
        "jobTypeId": b.job_type_id,
        "bookingProviderId": b.booking_provider_id,
        "modifiedOn": format_stamp(b.modified_on),
    })
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

fn new_contacts(
    tenant: &mut Tenant,
    contacts: Vec<ContactIn>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Contact> {
    contacts
        .into_iter()
        .map(|c| Contact {
            id: next(&mut tenant.ids.contact),
            contact_type: c.contact_type,
            value: c.value,
            memo: c.memo,
            created_on: now,
            modified_on: now,
        })
        .collect()
}

fn custom_fields(fields: Option<Vec<CustomFieldIn>>) -> Vec<CustomField> {
    fields
        .unwrap_or_default()
        .into_iter()
        .map(|f| CustomField {
            type_id: f.type_id,
            name: format!("Custom field {}", f.type_id),
            value: f.value,
        })
        .collect()
}

/// Business checks on contacts the schema cannot express: an e-mail needs an `@`, a phone
/// number needs digits.
fn check_contacts(errors: &mut schema::FieldErrors, prefix: &str, contacts: &[ContactIn]) {
    for (i, c) in contacts.iter().enumerate() {
        let bad = match c.contact_type.as_str() {
            "Email" => !c.value.contains('@'),
            _ => digits(&c.value).len() < 7,
        };
        if bad {
            errors
                .entry(format!("{prefix}Contacts[{i}].Value"))
                .or_default()
                .push(format!(
                    "'{}' is not a valid {} value.",
                    c.value, c.contact_type
                ));
        }
    }
}

/// Does `entries` carry `key` with one of `values` under `guid`?
pub fn external_match(
    entries: &[ExternalDataEntry],
    guid: &str,
    key: &str,
    values: &[String],
) -> bool {
    entries.iter().any(|e| {
        e.application_guid.eq_ignore_ascii_case(guid) && e.key == key && values.contains(&e.value)
    })
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

// ---------------------------------------------------------------------------------------------
// Customers

/// `GET /customers`: `phone` compares digits only against the customer's contacts, so
/// "(843) 260-9814", "843-260-9814" and "8432609814" match alike (live-checked). E.164 input
/// ("+18432609814") does **not** match a 10-digit contact here: whether the real filter
/// matches it is unverified, and the notes say to send 10 digits — so a client that sends
/// `+1…` finds nobody in tests instead of passing by luck. Unknown parameters (`phoneNumber`,
/// `email`) are ignored and the unfiltered page comes back.
pub async fn customers_list(call: Call) -> Reply {
    let mut q = call.query(CUSTOMERS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ids = q.ids("ids");
    let dates = q.date_filters();
    let _ = q.boolean("excludeAccountingChangesFromModifiedDateRange");
    let name = q.string("name");
    let address_filters: Vec<(&'static str, Option<String>)> =
        ["street", "unit", "city", "state", "zip", "country"]
            .into_iter()
            .map(|f| (f, q.string(f)))
            .collect();
    let phone = q.string("phone");
    let active = q.active(Active::True);
    let ext = q.external_data();
    let ignored = q.finish()?;

    let s = call.server.lock();
    let items: Vec<Value> = s
        .tenant
        .customers
        .values()
        .filter(|c| active.admits(c.active))
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .filter(|c| dates.admits(c.created_on, c.modified_on))
        .filter(|c| name.as_ref().is_none_or(|n| contains_ci(&c.name, n)))
        .filter(|c| {
            address_filters.iter().all(|(f, v)| {
                let Some(v) = v else { return true };
                let field = match *f {
                    "street" => Some(c.address.street.as_str()),
                    "unit" => c.address.unit.as_deref(),
                    "city" => Some(c.address.city.as_str()),
                    "state" => Some(c.address.state.as_str()),
                    "zip" => Some(c.address.zip.as_str()),
                    _ => Some(c.address.country.as_str()),
                };
                field.is_some_and(|x| contains_ci(x, v))
            })
        })
        .filter(|c| {
            phone.as_ref().is_none_or(|p| {
                let wanted = digits(p);
                !wanted.is_empty()
                    && c.contacts
                        .iter()
                        .any(|k| k.contact_type != "Email" && digits(&k.value) == wanted)
            })
        })
        .filter(|c| {
            ext.lookup.as_ref().is_none_or(|(k, vs)| {
                external_match(&c.external_data, ext.guid.as_deref().unwrap_or(""), k, vs)
            })
        })
        .map(|c| customer_json(c, ext.guid.as_deref()))
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

/// `GET /customers/{id}`: the spec declares no query parameters here, so no external data.
pub async fn customers_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let c = s
        .tenant
        .customers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Customer"))?;
    Ok(Answer::json(customer_json(c, None), ignored))
}

pub async fn customer_contacts(call: Call) -> Reply {
    let id = call.id("id")?;
    let mut q = call.query(CONTACT_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ignored = q.finish()?;
    let s = call.server.lock();
    let c = s
        .tenant
        .customers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Customer"))?;
    let items = c.contacts.iter().map(contact_with_dates_json).collect();
    Ok(Answer::json(page_of(items, paging, None), ignored))
}

/// `POST /customers` → 200 `CreatedCustomerResponse`: one call makes the customer, its
/// locations and contacts. A contact added to a new location is also copied to the customer
/// (CRM docs).
pub async fn customers_create(call: Call) -> Reply {
    let v = call.json(&schema::CREATE_CUSTOMER_REQUEST)?;
    let body: CreateCustomerIn = bind(&v)?;
    let mut errors = schema::FieldErrors::new();
    if body.locations.is_empty() {
        errors
            .entry("Locations".into())
            .or_default()
            .push("The customer must have at least one location.".into());
    }
    check_contacts(
        &mut errors,
        "",
        body.contacts.as_deref().unwrap_or_default(),
    );
    for (i, l) in body.locations.iter().enumerate() {
        check_contacts(
            &mut errors,
            &format!("Locations[{i}]."),
            l.contacts.as_deref().unwrap_or_default(),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let now = call.now;
    let guid = body
        .external_data
        .as_ref()
        .map(|e| e.application_guid.clone());
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    let customer_id = next(&mut t.ids.customer);
    let mut customer_contacts = new_contacts(t, body.contacts.unwrap_or_default(), now);
    let mut location_ids = Vec::new();
    for l in body.locations {
        let location_contacts = new_contacts(t, l.contacts.unwrap_or_default(), now);
        for c in &location_contacts {
            if !customer_contacts
                .iter()
                .any(|k| k.contact_type == c.contact_type && k.value == c.value)
            {
                let copy = Contact {
                    id: next(&mut t.ids.contact),
                    ..c.clone()
                };
                customer_contacts.push(copy);
            }
        }
        let id = next(&mut t.ids.location);
        t.locations.insert(
            id,
            Location {
                id,
                customer_id,
                active: true,
                name: l.name,
                address: l.address.into_address(),
                contacts: location_contacts,
                custom_fields: custom_fields(l.custom_fields),
                tag_type_ids: l.tag_type_ids.unwrap_or_default(),
                zone_id: None,
                created_on: now,
                modified_on: now,
                external_data: l.external_data.map(|e| e.entries()).unwrap_or_default(),
            },
        );
        location_ids.push(id);
    }
    let customer = Customer {
        id: customer_id,
        active: true,
        name: body.name,
        customer_type: body.customer_type.unwrap_or_else(|| "Residential".into()),
        address: body.address.into_address(),
        contacts: customer_contacts,
        custom_fields: custom_fields(body.custom_fields),
        tag_type_ids: body.tag_type_ids.unwrap_or_default(),
        do_not_mail: body.do_not_mail.unwrap_or(false),
        do_not_service: body.do_not_service.unwrap_or(false),
        balance: 0.0,
        created_on: now,
        modified_on: now,
        external_data: body.external_data.map(|e| e.entries()).unwrap_or_default(),
    };
    let mut out = customer_json(&customer, guid.as_deref());
    out["locations"] = Value::Array(
        location_ids
            .iter()
            .map(|id| created_location_json(&t.locations[id], guid.as_deref()))
            .collect(),
    );
    out["contacts"] = Value::Array(customer.contacts.iter().map(contact_json).collect());
    t.customers.insert(customer_id, customer);
    Ok(Answer::json(out, v.ignored))
}

// ---------------------------------------------------------------------------------------------
// Locations (no phone filter here: find the customer by phone, then list its locations)

pub async fn locations_list(call: Call) -> Reply {
    let mut q = call.query(LOCATIONS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ids = q.ids("ids");
    let name = q.string("name");
    let customer_id = q.int64("customerId");
    let address_filters: Vec<(&'static str, Option<String>)> =
        ["street", "unit", "city", "state", "zip", "country"]
            .into_iter()
            .map(|f| (f, q.string(f)))
            .collect();
    let active = q.active(Active::True);
    let dates = q.date_filters();
    let ext = q.external_data();
    let ignored = q.finish()?;

    let s = call.server.lock();
    let items = s
        .tenant
        .locations
        .values()
        .filter(|l| active.admits(l.active))
        .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.id)))
        .filter(|l| customer_id.is_none_or(|c| l.customer_id == c))
        .filter(|l| name.as_ref().is_none_or(|n| contains_ci(&l.name, n)))
        .filter(|l| dates.admits(l.created_on, l.modified_on))
        .filter(|l| {
            address_filters.iter().all(|(f, v)| {
                let Some(v) = v else { return true };
                let field = match *f {
                    "street" => Some(l.address.street.as_str()),
                    "unit" => l.address.unit.as_deref(),
                    "city" => Some(l.address.city.as_str()),
                    "state" => Some(l.address.state.as_str()),
                    "zip" => Some(l.address.zip.as_str()),
                    _ => Some(l.address.country.as_str()),
                };
                field.is_some_and(|x| contains_ci(x, v))
            })
        })
        .filter(|l| {
            ext.lookup.as_ref().is_none_or(|(k, vs)| {
                external_match(&l.external_data, ext.guid.as_deref().unwrap_or(""), k, vs)
            })
        })
        .map(|l| location_json(l, ext.guid.as_deref()))
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

pub async fn locations_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let l = s
        .tenant
        .locations
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Location"))?;
    Ok(Answer::json(location_json(l, None), ignored))
}

/// `POST /locations` → `CreateLocationResponse` (location plus contacts).
pub async fn locations_create(call: Call) -> Reply {
    let v = call.json(&schema::CREATE_LOCATION_REQUEST)?;
    let body: CreateLocationIn = bind(&v)?;
    let mut errors = schema::FieldErrors::new();
    check_contacts(
        &mut errors,
        "",
        body.contacts.as_deref().unwrap_or_default(),
    );
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    if !t.customers.contains_key(&body.customer_id) {
        errors.entry("CustomerId".into()).or_default().push(format!(
            "Customer with ID {} was not found.",
            body.customer_id
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let guid = body
        .external_data
        .as_ref()
        .map(|e| e.application_guid.clone());
    let contacts = new_contacts(t, body.contacts.unwrap_or_default(), now);
    let id = next(&mut t.ids.location);
    let location = Location {
        id,
        customer_id: body.customer_id,
        active: true,
        name: body.name,
        address: body.address.into_address(),
        contacts: contacts.clone(),
        custom_fields: custom_fields(body.custom_fields),
        tag_type_ids: body.tag_type_ids.unwrap_or_default(),
        zone_id: None,
        created_on: now,
        modified_on: now,
        external_data: body.external_data.map(|e| e.entries()).unwrap_or_default(),
    };
    let out = created_location_json(&location, guid.as_deref());
    t.locations.insert(id, location);
    let contact_ids: Vec<i64> = contacts.iter().map(|_| next(&mut t.ids.contact)).collect();
    if let Some(c) = t.customers.get_mut(&body.customer_id) {
        for (k, id) in contacts.into_iter().zip(contact_ids) {
            if !c
                .contacts
                .iter()
                .any(|x| x.contact_type == k.contact_type && x.value == k.value)
            {
                c.contacts.push(Contact { id, ..k });
            }
        }
        c.modified_on = now;
    }
    Ok(Answer::json(out, v.ignored))
}

// ---------------------------------------------------------------------------------------------
// Leads: `campaignId` and `summary` required, plus `callReasonId` or `followUpDate`.

pub async fn leads_create(call: Call) -> Reply {
    let v = call.json(&schema::LEAD_CREATE_REQUEST)?;
    let body: LeadCreateIn = bind(&v)?;
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    let mut errors = schema::FieldErrors::new();
    let mut err = |k: &str, m: String| errors.entry(k.to_string()).or_default().push(m);
    if body.call_reason_id.is_none() && body.follow_up_date.is_none() {
        err(
            "CallReasonId",
            "Either call reason ID or follow up date must be provided.".into(),
        );
    }
    if !t.campaigns.get(&body.campaign_id).is_some_and(|c| c.active) {
        err(
            "CampaignId",
            format!("Campaign with ID {} was not found.", body.campaign_id),
        );
    }
    if let Some(id) = body.call_reason_id {
        if !t.call_reasons.contains_key(&id) {
            err(
                "CallReasonId",
                format!("Call reason with ID {id} was not found."),
            );
        }
    }
    if let Some(id) = body.customer_id {
        if !t.customers.contains_key(&id) {
            err(
                "CustomerId",
                format!("Customer with ID {id} was not found."),
            );
        }
    }
    if let Some(id) = body.location_id {
        if !t.locations.contains_key(&id) {
            err(
                "LocationId",
                format!("Location with ID {id} was not found."),
            );
        }
    }
    if let Some(id) = body.business_unit_id {
        if !t.business_units.contains_key(&id) {
            err(
                "BusinessUnitId",
                format!("Business unit with ID {id} was not found."),
            );
        }
    }
    if let Some(id) = body.job_type_id {
        if !t.job_types.contains_key(&id) {
            err("JobTypeId", format!("Job type with ID {id} was not found."));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let id = next(&mut t.ids.lead);
    let lead = Lead {
        id,
        status: "Open".into(),
        customer_id: body.customer_id,
        location_id: body.location_id,
        business_unit_id: body.business_unit_id,
        job_type_id: body.job_type_id,
        priority: body.priority.unwrap_or_else(|| "Normal".into()),
        campaign_id: body.campaign_id,
        summary: body.summary,
        call_reason_id: body.call_reason_id,
        follow_up_date: body.follow_up_date,
        tag_type_ids: body.tag_type_ids.unwrap_or_default(),
        created_on: now,
        modified_on: now,
    };
    let out = lead_json(&lead);
    t.leads.insert(id, lead);
    Ok(Answer::json(out, v.ignored))
}

/// `GET /leads`: ids, created/modified dates, customer and status filter; the customer's own
/// fields (city, state, zip, its dates) and `isProspect` are accepted and not applied here
/// (the box never sends them). There is no filter on the summary: a client finds its lead by
/// date and reads the summaries.
pub async fn leads_list(call: Call) -> Reply {
    let mut q = call.query(LEADS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ids = q.ids("ids");
    let dates = q.date_filters();
    let customer_id = q.string("customerId");
    let status = q.string("status");
    for unused in [
        "isProspect",
        "withoutCustomer",
        "customerCity",
        "customerState",
        "customerZip",
        "customerCreatedOnOrAfter",
        "customerCreatedBefore",
        "customerModifiedOnOrAfter",
        "genPermUrl",
    ] {
        let _ = q.string(unused);
    }
    let ignored = q.finish()?;
    let s = call.server.lock();
    let items: Vec<Value> = s
        .tenant
        .leads
        .values()
        .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.id)))
        .filter(|l| dates.admits(l.created_on, l.modified_on))
        .filter(|l| {
            customer_id
                .as_ref()
                .is_none_or(|c| l.customer_id.map(|id| id.to_string()).as_ref() == Some(c))
        })
        .filter(|l| {
            status
                .as_ref()
                .is_none_or(|st| l.status.eq_ignore_ascii_case(st))
        })
        .map(lead_json)
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

pub async fn leads_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let l = s
        .tenant
        .leads
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Lead"))?;
    Ok(Answer::json(lead_json(l), ignored))
}

// ---------------------------------------------------------------------------------------------
// Bookings (hand the call to a CSR): `externalId` is required and filterable, so it is the
// dedupe key.

fn provider(call: &Call) -> Result<i64, ApiError> {
    let id = call
        .params
        .get("booking_provider")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::not_found("Booking provider"))?;
    if call.server.lock().tenant.booking_providers.contains(&id) {
        Ok(id)
    } else {
        Err(ApiError::not_found("Booking provider"))
    }
}

pub async fn bookings_create(call: Call) -> Reply {
    let provider_id = provider(&call)?;
    let v = call.json(&schema::CREATE_BOOKING_REQUEST)?;
    let body: CreateBookingIn = bind(&v)?;
    let now = call.now;
    let mut errors = schema::FieldErrors::new();
    check_contacts(
        &mut errors,
        "",
        body.contacts.as_deref().unwrap_or_default(),
    );
    if let Some(ct) = &body.customer_type {
        if !schema::CUSTOMER_TYPES
            .iter()
            .any(|m| m.eq_ignore_ascii_case(ct))
        {
            errors
                .entry("CustomerType".into())
                .or_default()
                .push(format!(
                    "'{ct}' is not a valid customer type (Residential, Commercial)."
                ));
        }
    }
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    if let Some(id) = body.campaign_id {
        if !t.campaigns.contains_key(&id) {
            errors
                .entry("CampaignId".into())
                .or_default()
                .push(format!("Campaign with ID {id} was not found."));
        }
    }
    if let Some(id) = body.business_unit_id {
        if !t.business_units.contains_key(&id) {
            errors
                .entry("BusinessUnitId".into())
                .or_default()
                .push(format!("Business unit with ID {id} was not found."));
        }
    }
    if let Some(id) = body.job_type_id {
        if !t.job_types.contains_key(&id) {
            errors
                .entry("JobTypeId".into())
                .or_default()
                .push(format!("Job type with ID {id} was not found."));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let id = next(&mut t.ids.booking);
    let booking = Booking {
        id,
        booking_provider_id: provider_id,
        source: body.source,
        name: body.name,
        address: body.address.map(|a| Address {
            street: a.street,
            unit: a.unit,
            city: a.city,
            state: a.state,
            zip: a.zip,
            country: a.country,
            latitude: None,
            longitude: None,
        }),
        contacts: body
            .contacts
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.contact_type, c.value, c.memo))
            .collect(),
        customer_type: body.customer_type.map(|ct| {
            schema::CUSTOMER_TYPES
                .iter()
                .find(|m| m.eq_ignore_ascii_case(&ct))
                .map(|m| m.to_string())
                .unwrap_or(ct)
        }),
        start: body.start,
        summary: body.summary,
        campaign_id: body.campaign_id,
        business_unit_id: body.business_unit_id,
        job_type_id: body.job_type_id,
        priority: body.priority,
        is_first_time_client: body.is_first_time_client,
        uploaded_images: body.uploaded_images.unwrap_or_default(),
        is_send_confirmation_email: body.is_send_confirmation_email,
        status: "New".into(),
        job_id: None,
        external_id: body.external_id,
        created_on: now,
        modified_on: now,
    };
    let out = booking_json(&booking);
    t.bookings.insert(id, booking);
    Ok(Answer::json(out, v.ignored))
}

pub async fn bookings_list(call: Call) -> Reply {
    let provider_id = provider(&call)?;
    let mut q = call.query(BOOKINGS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ids = q.ids("ids");
    let dates = q.date_filters();
    let external_id = q.string("externalId");
    let ignored = q.finish()?;
    let s = call.server.lock();
    let items = s
        .tenant
        .bookings
        .values()
        .filter(|b| b.booking_provider_id == provider_id)
        .filter(|b| ids.as_ref().is_none_or(|ids| ids.contains(&b.id)))
        .filter(|b| dates.admits(b.created_on, b.modified_on))
        .filter(|b| external_id.as_ref().is_none_or(|e| *e == b.external_id))
        .map(booking_json)
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

pub async fn bookings_get(call: Call) -> Reply {
    let provider_id = provider(&call)?;
    let id = call.id("id")?;
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let b = s
        .tenant
        .bookings
        .get(&id)
        .filter(|b| b.booking_provider_id == provider_id)
        .ok_or_else(|| ApiError::not_found("Booking"))?;
    Ok(Answer::json(booking_json(b), ignored))
}

//! Request schemas transcribed from ServiceTitan's OpenAPI documents (May-2025 copies of
//! `tenant-crm-v2`, `tenant-jpm-v2`, `tenant-dispatch-v2`), and a validator that answers the way
//! ServiceTitan's ASP.NET Core binder does.
//!
//! The facts live here as data so the test suite never reads `../shared` at run time. Binder
//! behaviour mirrored (ASP.NET Core defaults with `JsonSerializerDefaults.Web`):
//! - property names match case-insensitively; unknown properties are silently ignored (they are
//!   reported to the request log so tests can assert the client sent none);
//! - numbers may arrive as JSON strings (`AllowReadingFromString`); booleans may not;
//! - the first JSON conversion error stops deserialisation and is the only error reported, keyed
//!   by its JSON path (`$.appointments[0].start`);
//! - otherwise every `[Required]` violation is reported, keyed by the model path
//!   (`Locations[0].Address.Street`) with "The Street field is required." — a required string
//!   that is empty or whitespace fails too.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `errors` of an `ApiErrorResponse`: field → messages.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// A property type as the OpenAPI documents declare it.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    I64,
    I32,
    Bool,
    Str,
    Number,
    DateTime,
    Guid,
    /// A string enum: the .NET type name (for messages) and the canonical member names.
    Enum(&'static str, &'static [&'static str]),
    Obj(&'static Schema),
    Arr(&'static Ty),
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub fields: &'static [Field],
}

const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}

const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Enums (x-enumNames in the specs). `Crm.V2.ContactType` lists "Phone" twice: the second is the
// "LandlinePhone" label of the same value, so the accepted names are the four below.

pub const CONTACT_TYPES: &[&str] = &["Phone", "Email", "Fax", "MobilePhone"];
pub const CUSTOMER_TYPES: &[&str] = &["Residential", "Commercial"];
pub const PRIORITIES: &[&str] = &["Low", "Normal", "High", "Urgent"];
pub const PATCH_MODES: &[&str] = &["Replace", "Merge"];
pub const SHIFT_TYPES: &[&str] = &["Normal", "OnCall", "TimeOff"];
pub const JOB_STATUSES: &[&str] = &[
    "Scheduled",
    "Dispatched",
    "InProgress",
    "Hold",
    "Completed",
    "Canceled",
];
pub const APPOINTMENT_STATUSES: &[&str] = &[
    "Scheduled",
    "Dispatched",
    "Working",
    "Hold",
    "Done",
    "Canceled",
];

const CONTACT_TYPE: Ty = Ty::Enum("Crm.V2.ContactType", CONTACT_TYPES);
const CUSTOMER_TYPE: Ty = Ty::Enum("Crm.V2.CustomerType", CUSTOMER_TYPES);
const CRM_PRIORITY: Ty = Ty::Enum("Crm.V2.Priority", PRIORITIES);
const I64_ARRAY: Ty = Ty::Arr(&Ty::I64);

// ---------------------------------------------------------------------------------------------
// CRM (tenant-crm-v2.json, Swagger 2.0 `definitions`)

pub static CUSTOMER_ADDRESS: Schema = Schema {
    name: "Crm.V2.Customers.CustomerAddress",
    fields: &[
        req("street", Ty::Str),
        opt("unit", Ty::Str),
        req("city", Ty::Str),
        req("state", Ty::Str),
        req("zip", Ty::Str),
        req("country", Ty::Str),
        opt("latitude", Ty::Number),
        opt("longitude", Ty::Number),
    ],
};

pub static NEW_CUSTOMER_CONTACT: Schema = Schema {
    name: "Crm.V2.Customers.NewCustomerContact",
    fields: &[
        req("type", CONTACT_TYPE),
        req("value", Ty::Str),
        opt("memo", Ty::Str),
    ],
};

pub static CUSTOM_FIELD_UPDATE: Schema = Schema {
    name: "Crm.V2.Customers.CustomFieldUpdateModel",
    fields: &[req("typeId", Ty::I64), req("value", Ty::Str)],
};

pub static CRM_EXTERNAL_DATA_MODEL: Schema = Schema {
    name: "Crm.V2.ExternalDataModel",
    fields: &[req("key", Ty::Str), req("value", Ty::Str)],
};

pub static CRM_EXTERNAL_DATA_CREATE: Schema = Schema {
    name: "Crm.V2.ExternalDataCreateRequest",
    fields: &[
        req("applicationGuid", Ty::Guid),
        req("externalData", Ty::Arr(&Ty::Obj(&CRM_EXTERNAL_DATA_MODEL))),
    ],
};

pub static NEW_LOCATION: Schema = Schema {
    name: "Crm.V2.Customers.NewLocation",
    fields: &[
        req("name", Ty::Str),
        req("address", Ty::Obj(&CUSTOMER_ADDRESS)),
        opt("contacts", Ty::Arr(&Ty::Obj(&NEW_CUSTOMER_CONTACT))),
        opt("customFields", Ty::Arr(&Ty::Obj(&CUSTOM_FIELD_UPDATE))),
        opt("tagTypeIds", I64_ARRAY),
        opt("externalData", Ty::Obj(&CRM_EXTERNAL_DATA_CREATE)),
    ],
};

pub static CREATE_CUSTOMER_REQUEST: Schema = Schema {
    name: "Crm.V2.Customers.CreateCustomerRequest",
    fields: &[
        req("name", Ty::Str),
        opt("type", CUSTOMER_TYPE),
        opt("doNotMail", Ty::Bool),
        opt("doNotService", Ty::Bool),
        req("locations", Ty::Arr(&Ty::Obj(&NEW_LOCATION))),
        req("address", Ty::Obj(&CUSTOMER_ADDRESS)),
        opt("contacts", Ty::Arr(&Ty::Obj(&NEW_CUSTOMER_CONTACT))),
        opt("customFields", Ty::Arr(&Ty::Obj(&CUSTOM_FIELD_UPDATE))),
        opt("tagTypeIds", I64_ARRAY),
        opt("externalData", Ty::Obj(&CRM_EXTERNAL_DATA_CREATE)),
    ],
};

pub static CREATE_LOCATION_REQUEST: Schema = Schema {
    name: "Crm.V2.Locations.CreateLocationRequest",
    fields: &[
        req("name", Ty::Str),
        req("address", Ty::Obj(&CUSTOMER_ADDRESS)),
        opt("contacts", Ty::Arr(&Ty::Obj(&NEW_CUSTOMER_CONTACT))),
        opt("customFields", Ty::Arr(&Ty::Obj(&CUSTOM_FIELD_UPDATE))),
        opt("tagTypeIds", I64_ARRAY),
        opt("externalData", Ty::Obj(&CRM_EXTERNAL_DATA_CREATE)),
        req("customerId", Ty::I64),
    ],
};

pub static LEAD_CREATE_REQUEST: Schema = Schema {
    name: "Crm.V2.LeadCreateRequest",
    fields: &[
        opt("customerId", Ty::I64),
        opt("locationId", Ty::I64),
        req("campaignId", Ty::I64),
        opt("businessUnitId", Ty::I64),
        opt("jobTypeId", Ty::I64),
        req("summary", Ty::Str),
        opt("tagTypeIds", I64_ARRAY),
        opt("priority", CRM_PRIORITY),
        opt("callReasonId", Ty::I64),
        opt("followUpDate", Ty::DateTime),
    ],
};

pub static BOOKING_ADDRESS: Schema = Schema {
    name: "Crm.V2.AddressModel",
    fields: &[
        req("street", Ty::Str),
        opt("unit", Ty::Str),
        req("city", Ty::Str),
        req("state", Ty::Str),
        req("zip", Ty::Str),
        req("country", Ty::Str),
    ],
};

pub static BOOKING_CONTACT: Schema = Schema {
    name: "Crm.V2.BookingContactModel",
    fields: &[
        req("type", CONTACT_TYPE),
        req("value", Ty::Str),
        opt("memo", Ty::Str),
    ],
};

pub static CREATE_BOOKING_REQUEST: Schema = Schema {
    name: "Crm.V2.CreateBookingRequest",
    fields: &[
        req("source", Ty::Str),
        req("name", Ty::Str),
        opt("address", Ty::Obj(&BOOKING_ADDRESS)),
        opt("contacts", Ty::Arr(&Ty::Obj(&BOOKING_CONTACT))),
        opt("customerType", Ty::Str),
        opt("start", Ty::DateTime),
        req("summary", Ty::Str),
        opt("campaignId", Ty::I64),
        opt("businessUnitId", Ty::I64),
        opt("jobTypeId", Ty::I64),
        opt("priority", CRM_PRIORITY),
        req("isFirstTimeClient", Ty::Bool),
        opt("uploadedImages", Ty::Arr(&Ty::Str)),
        opt("isSendConfirmationEmail", Ty::Bool),
        req("externalId", Ty::Str),
    ],
};

// ---------------------------------------------------------------------------------------------
// JPM (tenant-jpm-v2.json, OpenAPI 3 `components.schemas`)

pub static JOB_GENERATED_LEAD_SOURCE: Schema = Schema {
    name: "Jpm.V2.JobGeneratedLeadSource",
    fields: &[opt("jobId", Ty::I64), opt("employeeId", Ty::I64)],
};

pub static APPOINTMENT_INFORMATION: Schema = Schema {
    name: "Jpm.V2.AppointmentInformation",
    fields: &[
        req("start", Ty::DateTime),
        req("end", Ty::DateTime),
        opt("arrivalWindowStart", Ty::DateTime),
        opt("arrivalWindowEnd", Ty::DateTime),
        opt("technicianIds", I64_ARRAY),
    ],
};

pub static JPM_CUSTOM_FIELD: Schema = Schema {
    name: "Jpm.V2.CustomFieldModel",
    fields: &[req("typeId", Ty::I64), opt("value", Ty::Str)],
};

pub static JPM_EXTERNAL_DATA_MODEL: Schema = Schema {
    name: "Jpm.V2.ExternalDataModel",
    fields: &[req("key", Ty::Str), req("value", Ty::Str)],
};

pub static JPM_EXTERNAL_DATA_CREATE: Schema = Schema {
    name: "Jpm.V2.ExternalDataCreateRequest",
    fields: &[
        req("applicationGuid", Ty::Guid),
        req("externalData", Ty::Arr(&Ty::Obj(&JPM_EXTERNAL_DATA_MODEL))),
    ],
};

pub static JPM_EXTERNAL_DATA_UPDATE_MODEL: Schema = Schema {
    name: "Jpm.V2.ExternalDataUpdateModel",
    fields: &[req("key", Ty::Str), opt("value", Ty::Str)],
};

pub static JPM_EXTERNAL_DATA_UPDATE: Schema = Schema {
    name: "Jpm.V2.ExternalDataUpdateRequest",
    fields: &[
        opt(
            "patchMode",
            Ty::Enum("Jpm.V2.ExternalDataPatchMode", PATCH_MODES),
        ),
        req("applicationGuid", Ty::Guid),
        req(
            "externalData",
            Ty::Arr(&Ty::Obj(&JPM_EXTERNAL_DATA_UPDATE_MODEL)),
        ),
    ],
};

pub static JOB_CREATE_REQUEST: Schema = Schema {
    name: "Jpm.V2.JobCreateRequest",
    fields: &[
        req("customerId", Ty::I64),
        req("locationId", Ty::I64),
        opt("projectId", Ty::I64),
        req("businessUnitId", Ty::I64),
        opt(
            "jobGeneratedLeadSource",
            Ty::Obj(&JOB_GENERATED_LEAD_SOURCE),
        ),
        req("jobTypeId", Ty::I64),
        // A plain string in the spec; the values in use are Low|Normal|High|Urgent (checked
        // as a business rule after binding).
        req("priority", Ty::Str),
        req("campaignId", Ty::I64),
        req("appointments", Ty::Arr(&Ty::Obj(&APPOINTMENT_INFORMATION))),
        opt("summary", Ty::Str),
        opt("customFields", Ty::Arr(&Ty::Obj(&JPM_CUSTOM_FIELD))),
        opt("tagTypeIds", I64_ARRAY),
        opt("externalData", Ty::Obj(&JPM_EXTERNAL_DATA_CREATE)),
        opt("invoiceSignatureIsRequired", Ty::Bool),
        opt("customerPo", Ty::Str),
        opt("soldById", Ty::I64),
    ],
};

pub static UPDATE_JOB_REQUEST: Schema = Schema {
    name: "Jpm.V2.UpdateJobRequest",
    fields: &[
        opt("customerId", Ty::I64),
        opt("locationId", Ty::I64),
        opt("businessUnitId", Ty::I64),
        opt(
            "jobGeneratedLeadSource",
            Ty::Obj(&JOB_GENERATED_LEAD_SOURCE),
        ),
        opt("jobTypeId", Ty::I64),
        opt("priority", Ty::Str),
        opt("campaignId", Ty::I64),
        opt("summary", Ty::Str),
        opt("shouldUpdateInvoiceItems", Ty::Bool),
        opt("customFields", Ty::Arr(&Ty::Obj(&JPM_CUSTOM_FIELD))),
        opt("tagTypeIds", I64_ARRAY),
        opt("externalData", Ty::Obj(&JPM_EXTERNAL_DATA_UPDATE)),
        opt("customerPo", Ty::Str),
        opt("soldById", Ty::I64),
    ],
};

pub static JOB_NOTE_CREATE_REQUEST: Schema = Schema {
    name: "Jpm.V2.JobNoteCreateRequest",
    fields: &[req("text", Ty::Str), opt("pinToTop", Ty::Bool)],
};

pub static CANCEL_JOB_REQUEST: Schema = Schema {
    name: "Jpm.V2.CancelJobRequest",
    fields: &[req("reasonId", Ty::I64), req("memo", Ty::Str)],
};

/// Every field is optional in the spec; missing ones keep the appointment's current values.
pub static APPOINTMENT_RESCHEDULE_REQUEST: Schema = Schema {
    name: "Jpm.V2.AppointmentRescheduleRequest",
    fields: &[
        opt("start", Ty::DateTime),
        opt("end", Ty::DateTime),
        opt("arrivalWindowStart", Ty::DateTime),
        opt("arrivalWindowEnd", Ty::DateTime),
    ],
};

// ---------------------------------------------------------------------------------------------
// Dispatch (tenant-dispatch-v2.json)

pub static CAPACITY_REQUEST_ARGS: Schema = Schema {
    name: "Dispatch.V2.CapacityRequestArgs",
    fields: &[
        req("startsOnOrAfter", Ty::DateTime),
        req("endsOnOrBefore", Ty::DateTime),
        opt("businessUnitIds", I64_ARRAY),
        opt("jobTypeId", Ty::I64),
        // REQUIRED in the spec even though it is a plain boolean.
        req("skillBasedAvailability", Ty::Bool),
    ],
};

pub static ASSIGN_TECHNICIANS_REQUEST: Schema = Schema {
    name: "Dispatch.V2.AssignTechniciansRequest",
    fields: &[
        req("jobAppointmentId", Ty::I64),
        req("technicianIds", I64_ARRAY),
    ],
};

// ---------------------------------------------------------------------------------------------
// The validator

/// A request body that passed validation, normalised: canonical camelCase property names,
/// numbers as numbers, enum members in canonical spelling, date-times as RFC 3339 UTC (`Z`).
pub struct Validated {
    pub value: Value,
    /// JSON paths of properties the schema does not know (ignored, as the real binder does).
    pub ignored: Vec<String>,
}

/// Validates `body` against `schema`. `Err` carries the `errors` of a 400 `ApiErrorResponse`.
pub fn validate(schema: &'static Schema, body: &Value) -> Result<Validated, FieldErrors> {
    let mut walk = Walk::default();
    let value = walk.value(&Ty::Obj(schema), body, "$", "");
    if let Some((path, message)) = walk.conversion_error {
        let mut errors = FieldErrors::new();
        errors.insert(path, vec![message]);
        return Err(errors);
    }
    if !walk.required.is_empty() {
        return Err(walk.required);
    }
    Ok(Validated {
        value: value.unwrap_or(Value::Null),
        ignored: walk.ignored,
    })
}

#[derive(Default)]
struct Walk {
    conversion_error: Option<(String, String)>,
    required: FieldErrors,
    ignored: Vec<String>,
}

impl Walk {
    fn convert_error(&mut self, json_path: &str, dotnet_type: &str) {
        if self.conversion_error.is_none() {
            self.conversion_error = Some((
                json_path.to_string(),
                format!(
                    "The JSON value could not be converted to {dotnet_type}. Path: {json_path} | LineNumber: 0 | BytePositionInLine: 0."
                ),
            ));
        }
    }

    /// Converts one value; `None` after recording a conversion error.
    fn value(&mut self, ty: &Ty, v: &Value, json_path: &str, model_path: &str) -> Option<Value> {
        if v.is_null() {
            return Some(Value::Null);
        }
        match ty {
            Ty::I64 | Ty::I32 => {
                let n = match v {
                    Value::Number(n) => n.as_i64(),
                    // AllowReadingFromString (ASP.NET Core web defaults).
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                let n = n.filter(|n| matches!(ty, Ty::I64) || i32::try_from(*n).is_ok());
                match n {
                    Some(n) => Some(Value::from(n)),
                    None => {
                        let t = if matches!(ty, Ty::I64) {
                            "System.Int64"
                        } else {
                            "System.Int32"
                        };
                        self.convert_error(json_path, t);
                        None
                    }
                }
            }
            Ty::Number => {
                let n = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match n.and_then(serde_json::Number::from_f64) {
                    Some(n) => Some(Value::Number(n)),
                    None => {
                        self.convert_error(json_path, "System.Double");
                        None
                    }
                }
            }
            Ty::Bool => match v {
                Value::Bool(b) => Some(Value::Bool(*b)),
                _ => {
                    self.convert_error(json_path, "System.Boolean");
                    None
                }
            },
            Ty::Str => match v {
                Value::String(s) => Some(Value::String(s.clone())),
                _ => {
                    self.convert_error(json_path, "System.String");
                    None
                }
            },
            Ty::DateTime => match v.as_str().and_then(parse_datetime) {
                Some(t) => Some(Value::String(format_utc(t))),
                None => {
                    self.convert_error(json_path, "System.DateTime");
                    None
                }
            },
            Ty::Guid => match v.as_str().filter(|s| is_guid(s)) {
                Some(s) => Some(Value::String(s.to_ascii_lowercase())),
                None => {
                    self.convert_error(json_path, "System.Guid");
                    None
                }
            },
            Ty::Enum(type_name, members) => {
                // JsonStringEnumConverter: member names, case-insensitive.
                let found = v
                    .as_str()
                    .and_then(|s| members.iter().find(|m| m.eq_ignore_ascii_case(s.trim())));
                match found {
                    Some(m) => Some(Value::String((*m).to_string())),
                    None => {
                        self.convert_error(json_path, type_name);
                        None
                    }
                }
            }
            Ty::Arr(item) => match v {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, it) in items.iter().enumerate() {
                        let jp = format!("{json_path}[{i}]");
                        let mp = format!("{model_path}[{i}]");
                        out.push(self.value(item, it, &jp, &mp)?);
                    }
                    Some(Value::Array(out))
                }
                _ => {
                    self.convert_error(json_path, "System.Collections.Generic.List`1");
                    None
                }
            },
            Ty::Obj(schema) => match v {
                Value::Object(obj) => self.object(schema, obj, json_path, model_path),
                _ => {
                    self.convert_error(json_path, schema.name);
                    None
                }
            },
        }
    }

    fn object(
        &mut self,
        schema: &'static Schema,
        obj: &Map<String, Value>,
        json_path: &str,
        model_path: &str,
    ) -> Option<Value> {
        let mut out = Map::new();
        for (key, v) in obj {
            let Some(field) = schema
                .fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(key))
            else {
                self.ignored.push(format!("{json_path}.{key}"));
                continue;
            };
            let jp = format!("{json_path}.{}", field.name);
            let pascal = pascal(field.name);
            let mp = if model_path.is_empty() {
                pascal.clone()
            } else {
                format!("{model_path}.{pascal}")
            };
            let converted = self.value(&field.ty, v, &jp, &mp)?;
            out.insert(field.name.to_string(), converted);
        }
        for field in schema.fields.iter().filter(|f| f.required) {
            let missing = match out.get(field.name) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                _ => false,
            };
            if missing {
                let pascal = pascal(field.name);
                let mp = if model_path.is_empty() {
                    pascal.clone()
                } else {
                    format!("{model_path}.{pascal}")
                };
                self.required
                    .entry(mp)
                    .or_default()
                    .push(format!("The {pascal} field is required."));
            }
        }
        Some(Value::Object(out))
    }
}

/// `customerId` → `CustomerId`, the key style of ASP.NET model-state errors.
pub fn pascal(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// RFC 3339 with an offset, or a zone-less ISO date-time / date (read as UTC, as
/// ServiceTitan documents every date-time in UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// How the server writes date-times: UTC with `Z`, fractional seconds only when present.
pub fn format_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// How the server writes `createdOn`/`modifiedOn`: UTC, fixed microseconds (sortable as text).
pub fn format_stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// .NET's default Guid JSON format ("D": 8-4-4-4-12 hex digits).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

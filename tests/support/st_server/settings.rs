//! Reference data: Settings (technicians, business units), Marketing (campaigns), JBCE (call
//! reasons). Shapes follow `tenant-settings-v2.json`, `tenant-jbce-v2.json`, and for campaigns
//! the fields listed in servicetitan-api.md §5 (no spec copy: `campaignPhoneNumbers` is served
//! as an array of strings, `businessUnit` as `{id, name}` or null — an inference).

use super::query::{page_of, Active};
use super::schema::format_stamp;
use super::state::*;
use super::{Answer, ApiError, Call, Reply};
use chrono::Utc;
use serde_json::{json, Value};

const TECHNICIANS_LIST_PARAMS: &[&str] = &[
    "ids",
    "userIds",
    "name",
    "active",
    "page",
    "pageSize",
    "includeTotal",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
];
const BUSINESS_UNITS_LIST_PARAMS: &[&str] = &[
    "ids",
    "name",
    "active",
    "page",
    "pageSize",
    "includeTotal",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "externalDataApplicationGuid",
];
const CAMPAIGNS_LIST_PARAMS: &[&str] = &[
    "ids",
    "name",
    "active",
    "page",
    "pageSize",
    "includeTotal",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "campaignPhoneNumber",
    "sort",
];
const CALL_REASONS_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "includeTotal",
    "active",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "sort",
];
const NO_PARAMS: &[&str] = &[];

fn stamp(t: &Tenant) -> String {
    format_stamp(t.seeded_on.unwrap_or_else(Utc::now))
}

/// `TenantSettings.V2.TechnicianResponse` (skills are not part of it).
fn technician_json(x: &Technician, t: &Tenant) -> Value {
    json!({
        "id": x.id, "userId": x.user_id, "name": x.name, "roleIds": [],
        "businessUnitId": x.business_unit_id, "mainZoneId": null, "zoneIds": [],
        "createdOn": stamp(t), "modifiedOn": stamp(t), "email": x.email,
        "phoneNumber": x.phone_number, "loginName": null, "home": null, "dailyGoal": 0.0,
        "isManagedTech": true, "customFields": [], "active": x.active, "aadUserId": null,
        "burdenRate": 0.0, "team": x.team, "jobFilter": null, "permissions": [],
        "accountLocked": false,
    })
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

pub async fn technicians_list(call: Call) -> Reply {
    let mut q = call.query(TECHNICIANS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    let user_ids = q.ids("userIds");
    let name = q.string("name");
    let active = q.active(Active::True);
    let _dates = q.date_filters();
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .technicians
        .values()
        .filter(|x| active.admits(x.active))
        .filter(|x| ids.as_ref().is_none_or(|ids| ids.contains(&x.id)))
        .filter(|x| user_ids.as_ref().is_none_or(|ids| ids.contains(&x.user_id)))
        .filter(|x| name.as_ref().is_none_or(|n| contains_ci(&x.name, n)))
        .map(|x| technician_json(x, t))
        .collect();
    Ok(Answer::json(page_of(items, paging, None), ignored))
}

pub async fn technicians_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let x = s
        .tenant
        .technicians
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Technician"))?;
    Ok(Answer::json(technician_json(x, &s.tenant), ignored))
}

/// `TenantSettings.V2.BusinessUnitResponse` — note: no time-zone field.
pub async fn business_units_list(call: Call) -> Reply {
    let mut q = call.query(BUSINESS_UNITS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    let name = q.string("name");
    let active = q.active(Active::True);
    let _dates = q.date_filters();
    let _guid = q.string("externalDataApplicationGuid");
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .business_units
        .values()
        .filter(|b| active.admits(b.active))
        .filter(|b| ids.as_ref().is_none_or(|ids| ids.contains(&b.id)))
        .filter(|b| name.as_ref().is_none_or(|n| contains_ci(&b.name, n)))
        .map(|b| {
            json!({
                "id": b.id, "active": b.active, "name": b.name, "officialName": b.official_name,
                "email": b.email, "currency": "USD", "phoneNumber": b.phone_number,
                "invoiceHeader": null, "invoiceMessage": null, "defaultTaxRate": null,
                "authorizationParagraph": null, "acknowledgementParagraph": null,
                "address": null, "materialSku": null, "quickbooksClass": null,
                "accountCode": null, "franchiseId": null, "conceptCode": null,
                "corporateContractNumber": null,
                "tenant": { "id": call.server.config.tenant_id, "name": "Callbox Test Tenant",
                            "accountCode": null, "franchiseId": null, "conceptCode": null,
                            "modifiedOn": stamp(t) },
                "createdOn": stamp(t), "modifiedOn": stamp(t), "externalData": [],
            })
        })
        .collect();
    Ok(Answer::json(page_of(items, paging, None), ignored))
}

/// `GET /marketing/v2/tenant/{t}/campaigns`: `campaignPhoneNumber` maps the dialled number to
/// a campaign (digits compared); `isDefaultCampaign` marks the fallback.
pub async fn campaigns_list(call: Call) -> Reply {
    let mut q = call.query(CAMPAIGNS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    let name = q.string("name");
    let active = q.active(Active::True);
    let _dates = q.date_filters();
    let phone = q.string("campaignPhoneNumber");
    let sort = q.sort(&["Id", "Name", "CreatedOn", "ModifiedOn"]);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .campaigns
        .values()
        .filter(|c| active.admits(c.active))
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .filter(|c| name.as_ref().is_none_or(|n| contains_ci(&c.name, n)))
        .filter(|c| {
            phone.as_ref().is_none_or(|p| {
                let wanted = digits(p);
                !wanted.is_empty() && c.campaign_phone_numbers.iter().any(|n| digits(n) == wanted)
            })
        })
        .map(|c| {
            json!({
                "id": c.id, "name": c.name, "active": c.active,
                "createdOn": stamp(t), "modifiedOn": stamp(t),
                "isDefaultCampaign": c.is_default_campaign,
                "category": c.category.as_ref().map(|(id, name)| json!({"id": id, "name": name, "active": true})),
                "source": c.source, "medium": c.medium,
                "businessUnit": c.business_unit_id.map(|id| json!({
                    "id": id,
                    "name": t.business_units.get(&id).map(|b| b.name.clone()),
                })),
                "campaignPhoneNumbers": c.campaign_phone_numbers,
            })
        })
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

/// `Jbce.V2.CallReasonResponse` `{id, name, isLead, active, createdOn, modifiedOn}`.
pub async fn call_reasons_list(call: Call) -> Reply {
    let mut q = call.query(CALL_REASONS_PARAMS);
    let paging = q.paging(call.max_page_size());
    let active = q.active(Active::True);
    let _dates = q.date_filters();
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .call_reasons
        .values()
        .filter(|r| active.admits(r.active))
        .map(|r| {
            json!({
                "id": r.id, "name": r.name, "isLead": r.is_lead, "active": r.active,
                "createdOn": stamp(t), "modifiedOn": stamp(t),
            })
        })
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

//! Memberships (`/memberships/v2/tenant/{tenant}/...`): the customer memberships list, the one
//! operation callbox reads ("is this caller a member?"). Shapes and query parameters follow
//! `tenant-memberships-v2.json` (`CustomerMemberships_GetList`,
//! `Memberships.V2.CustomerMembershipResponse`).

use super::query::{page_of, Active};
use super::schema::format_stamp;
use super::state::*;
use super::{Answer, Call, Reply};
use serde_json::{json, Value};

const MEMBERSHIPS_LIST_PARAMS: &[&str] = &[
    "ids",
    "customerIds",
    "status",
    "duration",
    "billingFrequency",
    "page",
    "pageSize",
    "includeTotal",
    "active",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
];

/// `Memberships.V2.MembershipStatus`.
pub const MEMBERSHIP_STATUSES: &[&str] = &["Active", "Suspended", "Expired", "Canceled", "Deleted"];

/// `Memberships.V2.MembershipRecurrenceType`.
const BILLING_FREQUENCIES: &[&str] = &[
    "OneTime",
    "Monthly",
    "EveryOtherMonth",
    "Quarterly",
    "BiAnnual",
    "Annual",
];

fn membership_json(m: &Membership) -> Value {
    json!({
        "id": m.id, "createdOn": format_stamp(m.created_on), "createdById": null,
        "modifiedOn": format_stamp(m.modified_on), "followUpOn": format_stamp(m.created_on),
        "cancellationDate": null, "from": format_stamp(m.from),
        "nextScheduledBillDate": null, "to": m.to.map(format_stamp),
        "billingFrequency": m.billing_frequency, "renewalBillingFrequency": null,
        "status": m.status, "followUpStatus": "NotAttempted", "active": m.active,
        "initialDeferredRevenue": 0.0, "duration": m.duration_months, "renewalDuration": null,
        "businessUnitId": m.business_unit_id, "customerId": m.customer_id,
        "membershipTypeId": m.membership_type_id, "activatedById": null,
        "activatedFromId": null, "billingTemplateId": null,
        "cancellationBalanceInvoiceId": null, "cancellationInvoiceId": null,
        "followUpCustomStatusId": null, "locationId": m.location_id, "paymentMethodId": null,
        "paymentTypeId": null, "recurringLocationId": null, "renewalMembershipTaskId": null,
        "renewedById": null, "soldById": null, "customerPo": null, "importId": null,
        "memo": null, "customFields": [],
    })
}

/// `GET /memberships` (`CustomerMemberships_GetList`): active memberships only by default, like
/// the other lists; `customerIds` and `ids` are comma-separated.
pub async fn memberships_list(call: Call) -> Reply {
    let mut q = call.query(MEMBERSHIPS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    // `customerIds` documents no 50-id cap (unlike `ids`): parse it without one.
    let customer_ids: Option<Vec<i64>> = q.raw("customerIds").and_then(|v| {
        let parsed: Result<Vec<i64>, _> = v
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse::<i64>)
            .collect();
        match parsed {
            Ok(ids) => Some(ids),
            Err(_) => {
                q.error(
                    "CustomerIds",
                    &format!("The value '{v}' is not valid for CustomerIds."),
                );
                None
            }
        }
    });
    let status = q.one_of("status", MEMBERSHIP_STATUSES);
    let duration = q.int64("duration");
    let billing = q.one_of("billingFrequency", BILLING_FREQUENCIES);
    let active = q.active(Active::True);
    let dates = q.date_filters();
    let ignored = q.finish()?;
    let s = call.server.lock();
    let items = s
        .tenant
        .memberships
        .values()
        .filter(|m| active.admits(m.active))
        .filter(|m| ids.as_ref().is_none_or(|ids| ids.contains(&m.id)))
        .filter(|m| {
            customer_ids
                .as_ref()
                .is_none_or(|c| c.contains(&m.customer_id))
        })
        .filter(|m| status.is_none_or(|st| m.status == st))
        .filter(|m| duration.is_none_or(|d| m.duration_months == Some(d)))
        .filter(|m| billing.is_none_or(|b| m.billing_frequency == b))
        .filter(|m| dates.admits(m.created_on, m.modified_on))
        .map(membership_json)
        .collect();
    Ok(Answer::json(page_of(items, paging, None), ignored))
}

//! Unknown-filter safety: ServiceTitan answers a misspelt or unsupported filter with HTTP 200
//! and the *unfiltered* list. Every lookup the box makes passes its results through one of
//! these checks, so a silently ignored filter can never pick the wrong customer or make the
//! sync believe a job is absent (and create it twice).

use super::error::StError;
use super::types::{
    has_external_data, Address, Campaign, Customer, CustomerContact, ExternalDataItem, Page, StId,
};
use crate::trade::phone::DiallingPlan;

/// A page looks unfiltered when the server says there is more than it sent.
fn looks_unfiltered<T>(page: &Page<T>) -> bool {
    page.has_more || page.total_count.is_some_and(|t| t > page.data.len() as i64)
}

/// Customers from `?phone=` whose contacts (fetched separately) really hold the number.
///
/// Customers whose contacts do not hold it are dropped (the phone filter may also match location
/// contacts, which this does not read). If none match while the server claims more results than
/// it sent, the filter was ignored and the answer is an error, not "new caller".
pub fn verify_phone_customers(
    page: &Page<Customer>,
    contacts: &[CustomerContact],
    phone: &str,
    plan: &DiallingPlan,
) -> Result<Vec<Customer>, StError> {
    let matched: Vec<Customer> = page
        .data
        .iter()
        .filter(|c| {
            contacts.iter().any(|k| {
                k.customer_id.is_none_or(|id| id == c.id)
                    && (plan.same_number(&k.value, phone)
                        || k.phone_settings
                            .as_ref()
                            .and_then(|p| p.phone_number.as_deref())
                            .is_some_and(|p| plan.same_number(p, phone)))
            })
        })
        .cloned()
        .collect();
    if matched.is_empty() && !page.data.is_empty() && looks_unfiltered(page) {
        return Err(StError::FilterIgnored {
            filter: "phone".into(),
        });
    }
    Ok(matched)
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
        .trim_end_matches('.')
        .to_string()
}

/// Whether `found` is the address the caller gave (street and zip, case- and space-insensitive).
pub fn same_address(found: &Address, wanted: &Address) -> bool {
    norm(&found.street) == norm(&wanted.street)
        && found.zip.chars().take(5).collect::<String>()
            == wanted.zip.chars().take(5).collect::<String>()
}

/// Whether a caller who gave `said` as their name may be the customer named `on_file`: a
/// name word (two letters or more, any case, apostrophes and hyphens split) in common. A
/// number or an address alone does not make a stranger that customer: "John Smith" calling
/// about 123 Maple St is not Jane Doe who lives there, and his job does not go on her account.
/// An empty name (a caller who gave none) says nothing against it.
pub fn same_person(said: &str, on_file: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 2)
            .map(str::to_lowercase)
            .collect()
    };
    let said = words(said);
    said.is_empty() || words(on_file).iter().any(|w| said.contains(w))
}

/// Customers from `?street=&zip=` whose bill-to address really is the one asked for.
pub fn verify_address_customers(
    page: &Page<Customer>,
    wanted: &Address,
) -> Result<Vec<Customer>, StError> {
    let matched: Vec<Customer> = page
        .data
        .iter()
        .filter(|c| c.address.as_ref().is_some_and(|a| same_address(a, wanted)))
        .cloned()
        .collect();
    if matched.is_empty() && !page.data.is_empty() && looks_unfiltered(page) {
        return Err(StError::FilterIgnored {
            filter: "street/zip".into(),
        });
    }
    Ok(matched)
}

/// Every item must satisfy `matches`; one that does not means the filter was ignored.
pub fn verify_all<T>(
    items: Vec<T>,
    filter: &str,
    matches: impl Fn(&T) -> bool,
) -> Result<Vec<T>, StError> {
    if items.iter().all(matches) {
        Ok(items)
    } else {
        Err(StError::FilterIgnored {
            filter: filter.to_string(),
        })
    }
}

/// Items found by `externalDataKey`/`externalDataValues` must carry that key and value.
pub fn verify_external_data<T>(
    items: Vec<T>,
    key: &str,
    value: &str,
    external_data: impl Fn(&T) -> Option<&Vec<ExternalDataItem>>,
) -> Result<Vec<T>, StError> {
    verify_all(items, "externalDataKey/externalDataValues", |item| {
        external_data(item).is_some_and(|ed| has_external_data(ed, key, value))
    })
}

/// Campaigns from `?campaignPhoneNumber=` must list that number.
pub fn verify_campaigns_by_phone(
    items: Vec<Campaign>,
    phone: &str,
    plan: &DiallingPlan,
) -> Result<Vec<Campaign>, StError> {
    verify_all(items, "campaignPhoneNumber", |c| {
        c.campaign_phone_numbers
            .iter()
            .any(|n| plan.same_number(n, phone))
    })
}

/// Ids returned for an `ids=` query must be among those asked for.
pub fn verify_ids<T>(
    items: Vec<T>,
    asked: &[StId],
    id: impl Fn(&T) -> StId,
) -> Result<Vec<T>, StError> {
    verify_all(items, "ids", |item| asked.contains(&id(item)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_person_needs_a_name_word_in_common() {
        use super::same_person;
        assert!(same_person("Jane", "Jane Doe"));
        assert!(same_person("jane doe", "Doe, Jane"));
        assert!(same_person("Sean O'Connor", "Mary O'Connor"));
        assert!(same_person("", "Jane Doe"));
        assert!(!same_person("John Smith", "Jane Doe"));
        assert!(!same_person("J Smith", "J Doe"));
    }

    use super::*;
    use crate::servicetitan::types::ContactType;
    use crate::trade::phone::dialling_plan;

    fn us() -> &'static DiallingPlan {
        dialling_plan("US").expect("US plan")
    }

    #[test]
    fn a_uk_shop_matches_its_contacts_in_national_form() {
        let gb = dialling_plan("GB").expect("GB plan");
        let p = page(&[1, 2], false, Some(2));
        let contacts = [contact(1, "020 7946 0958"), contact(2, "3125550142")];
        let got = verify_phone_customers(&p, &contacts, "+442079460958", gb).unwrap();
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1]);
    }

    fn customer(id: StId) -> Customer {
        Customer {
            id,
            active: true,
            name: format!("C{id}"),
            kind: None,
            address: None,
            merged_to_id: None,
            external_data: None,
            modified_on: None,
        }
    }

    fn contact(customer_id: StId, value: &str) -> CustomerContact {
        CustomerContact {
            id: customer_id * 10,
            customer_id: Some(customer_id),
            kind: ContactType::MobilePhone,
            value: value.into(),
            memo: None,
            phone_settings: None,
        }
    }

    fn page(ids: &[StId], has_more: bool, total: Option<i64>) -> Page<Customer> {
        Page {
            page: 1,
            page_size: 50,
            has_more,
            total_count: total,
            data: ids.iter().map(|&i| customer(i)).collect(),
        }
    }

    #[test]
    fn phone_lookup_keeps_only_real_matches() {
        let p = page(&[1, 2], false, Some(2));
        let contacts = [contact(1, "(312) 555-0142"), contact(2, "7735550000")];
        let got = verify_phone_customers(&p, &contacts, "+13125550142", us()).unwrap();
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn ignored_phone_filter_is_an_error_not_a_new_caller() {
        // The whole first page of customers, none with the number, and more pages behind it.
        let ids: Vec<StId> = (1..=50).collect();
        let p = page(&ids, true, None);
        let contacts: Vec<_> = ids.iter().map(|&i| contact(i, "7735550000")).collect();
        assert!(matches!(
            verify_phone_customers(&p, &contacts, "+13125550142", us()),
            Err(StError::FilterIgnored { .. })
        ));
        // includeTotal larger than what was sent says the same.
        let p = page(&[1, 2], false, Some(5000));
        assert!(verify_phone_customers(&p, &contacts, "+13125550142", us()).is_err());
        // A small complete answer with no match is simply "not found".
        let p = page(&[1], false, Some(1));
        assert_eq!(
            verify_phone_customers(&p, &contacts, "+13125550142", us()).unwrap(),
            vec![]
        );
    }

    #[test]
    fn contacts_of_another_customer_do_not_count() {
        let p = page(&[1], false, Some(1));
        let contacts = [contact(2, "3125550142")];
        assert!(verify_phone_customers(&p, &contacts, "+13125550142", us())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn external_data_must_match() {
        let ed = |k: &str, v: &str| {
            Some(vec![ExternalDataItem {
                key: k.into(),
                value: v.into(),
            }])
        };
        let items = vec![ed("callboxRecordId", "r1"), ed("callboxRecordId", "r1")];
        assert_eq!(
            verify_external_data(items, "callboxRecordId", "r1", |i| i.as_ref())
                .unwrap()
                .len(),
            2
        );
        let items = vec![ed("callboxRecordId", "r1"), ed("callboxRecordId", "r2")];
        assert!(verify_external_data(items, "callboxRecordId", "r1", |i| i.as_ref()).is_err());
        let items = vec![None];
        assert!(verify_external_data(items, "callboxRecordId", "r1", |i| i.as_ref()).is_err());
        let empty: Vec<Option<Vec<ExternalDataItem>>> = vec![];
        assert!(verify_external_data(empty, "k", "v", |i| i.as_ref())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn address_lookup() {
        let wanted = Address {
            street: "1 Main St".into(),
            zip: "78701".into(),
            ..Default::default()
        };
        let mut c = customer(1);
        c.address = Some(Address {
            street: "1  main st.".into(),
            zip: "78701-1234".into(),
            ..Default::default()
        });
        let mut other = customer(2);
        other.address = Some(Address {
            street: "9 Elm".into(),
            zip: "78701".into(),
            ..Default::default()
        });
        let p = Page {
            page: 1,
            page_size: 50,
            has_more: false,
            total_count: None,
            data: vec![c, other],
        };
        let got = verify_address_customers(&p, &wanted).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, 1);
        let mut unfiltered = p.clone();
        unfiltered.data.remove(0);
        unfiltered.has_more = true;
        assert!(verify_address_customers(&unfiltered, &wanted).is_err());
    }

    #[test]
    fn campaigns_and_ids() {
        let c = |id, n: &str| Campaign {
            id,
            name: String::new(),
            active: true,
            is_default_campaign: false,
            campaign_phone_numbers: vec![n.into()],
        };
        assert!(
            verify_campaigns_by_phone(vec![c(1, "(312) 555-0100")], "+13125550100", us()).is_ok()
        );
        assert!(verify_campaigns_by_phone(
            vec![c(1, "3125550100"), c(2, "3125550199")],
            "+13125550100",
            us()
        )
        .is_err());
        assert!(verify_ids(vec![1i64, 2], &[1, 2, 3], |&i| i).is_ok());
        assert!(verify_ids(vec![1i64, 9], &[1, 2, 3], |&i| i).is_err());
    }
}

//! Who is calling and where the work is.

use serde::{Deserialize, Serialize};

/// The person on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerInfo {
    /// Name as the caller gave it ("Jane Doe"); may be empty when they would not say.
    pub name: String,
    /// Caller ID in E.164 (+13125550142), when the line delivered one.
    #[serde(default)]
    pub phone_e164: Option<String>,
    /// A different number the caller asked to be called back on, in E.164.
    #[serde(default)]
    pub callback_phone_e164: Option<String>,
}

impl CallerInfo {
    /// The number to reach the caller on: the callback number they gave, else caller ID.
    pub fn best_phone(&self) -> Option<&str> {
        self.callback_phone_e164
            .as_deref()
            .or(self.phone_e164.as_deref())
    }
}

/// A service address, in the shape ServiceTitan's customer/location `address` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    /// Apartment, suite, unit.
    #[serde(default)]
    pub unit: Option<String>,
    pub city: String,
    /// State or province code ("TX").
    pub state: String,
    pub zip: String,
    /// Country as ServiceTitan spells it ("USA").
    pub country: String,
}

impl Address {
    /// The address on one line, as a technician reads it.
    pub fn one_line(&self) -> String {
        let mut parts = vec![self.street.trim().to_string()];
        if let Some(unit) = self.unit.as_deref().filter(|u| !u.trim().is_empty()) {
            parts.push(unit.trim().to_string());
        }
        let place = format!(
            "{} {} {}",
            self.city.trim(),
            self.state.trim(),
            self.zip.trim()
        );
        parts.push(place.split_whitespace().collect::<Vec<_>>().join(" "));
        parts.retain(|p| !p.is_empty());
        parts.join(", ")
    }
}

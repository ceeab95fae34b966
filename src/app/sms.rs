//! Texts in the running box: the booking texter as a supervised service, and the one
//! [`SmsSender`] per process (the paging ladder takes it from [`sender`] to text technicians).

use crate::alert::sms::{BookingTexter, SmsSender, SmsSettings, SmsStore};
use crate::alert::{NoOnCall, OnCallDirectory};
use crate::app::lookup::CacheOnCall;
use crate::app::supervisor::Service;
use crate::config::Config;
use crate::queue::Outbox;
use crate::servicetitan::cache::StCache;
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::{error, info};

/// `<data_dir>/sms`: the opt-outs and the ledger of sent texts.
pub fn sms_dir(config: &Config) -> PathBuf {
    config.data_paths().root.join("sms")
}

/// The configured sender, or `None` when `[sms] gateway` is empty. One per process and data
/// directory (the booking texts and the paging ladder share it: one store, one HTTP client,
/// one set of messages in flight); built on first use from that call's settings.
pub fn sender(config: &Config) -> Result<Option<SmsSender>> {
    static SENDERS: OnceLock<Mutex<HashMap<PathBuf, SmsSender>>> = OnceLock::new();
    let Some(settings) = SmsSettings::from_settings(&config.sms).context("setting up [sms]")?
    else {
        return Ok(None);
    };
    let dir = sms_dir(config);
    let mut senders = SENDERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = senders.get(&dir) {
        return Ok(Some(s.clone()));
    }
    let store = Arc::new(SmsStore::open(&dir).context("opening the SMS store")?);
    let s = SmsSender::new(&settings, store)?;
    senders.insert(dir, s.clone());
    Ok(Some(s))
}

/// The booking texter, when texts and booking texts are on.
pub(crate) fn booking_texts(
    config: &Config,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
) -> Result<Option<Service>> {
    let Some(settings) = SmsSettings::from_settings(&config.sms).context("setting up [sms]")?
    else {
        info!("sms: no gateway configured ([sms] gateway): no texts are sent");
        return Ok(None);
    };
    if !settings.booking_texts {
        return Ok(None);
    }
    // A damaged store stops the texts, never the box (calls and the sync go on).
    let sender = match sender(config) {
        Ok(Some(sender)) => sender,
        Ok(None) => return Ok(None),
        Err(e) => {
            error!("sms: NO BOOKING TEXTS: {e:#}");
            return Ok(None);
        }
    };
    let on_call: Arc<dyn OnCallDirectory> = match cache {
        Some(cache) => Arc::new(CacheOnCall { cache }),
        None => Arc::new(NoOnCall),
    };
    info!(gateway = sender.gateway().name(), host = %sender.gateway().host(), "sms: booking texts on");
    let texter = BookingTexter::new(
        sender,
        queue.clone(),
        on_call,
        &config.shop.name,
        config.shop.timezone.parse().unwrap_or(chrono_tz::UTC),
        settings.booking_wait,
    );
    Ok(Some(Service::new("booking texts", move |token| {
        let texter = texter.clone();
        Box::pin(async move {
            texter.run(token.cancelled()).await;
            if token.is_cancelled() {
                Ok(())
            } else {
                Err(anyhow!("the booking texter ended"))
            }
        })
    })))
}

//! TEMPORARY stub until the media session lands (API the line expects).
use crate::config::Codec;
use crate::telephony::audio_port::{EndReason, PortBackend};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("media error")]
pub struct MediaError;

pub struct RtpSockets;
impl RtpSockets {
    pub fn local_port(&self) -> u16 {
        0
    }
}
pub async fn bind_rtp(_ip: IpAddr, _min: u16, _max: u16) -> Result<RtpSockets, MediaError> {
    Err(MediaError)
}
#[derive(Debug, Clone)]
pub struct MediaParams {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
    pub remote: SocketAddr,
    pub send: bool,
    pub receive: bool,
    pub inband_dtmf: bool,
    pub jitter_frames: usize,
    pub rtp_timeout: Duration,
}
#[derive(Debug, Clone, Default)]
pub struct MediaStats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub lost: u64,
    pub garbage: u64,
}
#[derive(Debug, Clone)]
pub struct MediaHandle;
impl MediaHandle {
    pub fn update(&self, _p: MediaParams) {}
    pub fn stop(&self, _r: EndReason) {}
    pub fn stats(&self) -> MediaStats {
        MediaStats::default()
    }
    pub async fn ended(&self) -> EndReason {
        EndReason::LocalHangUp
    }
}
pub fn start(_s: RtpSockets, _p: MediaParams, _b: PortBackend) -> MediaHandle {
    MediaHandle
}

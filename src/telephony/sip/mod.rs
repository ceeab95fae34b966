//! SIP user agent server (RFC 3261 over UDP), and the client side of the calls the box places.
//!
//! [`endpoint::Endpoint`] is the protocol core: no sockets, no clock (it is handed both), so
//! transactions and their timers are tested without sleeping. [`udp`] runs it on a socket.
//! rsipstack parses and tokenises; [`message`] validates what it parsed before anything acts on
//! it. The rest of callbox sees only [`endpoint::CallEvent`]s and the commands on
//! [`udp::SipHandle`].

pub mod auth;
pub mod endpoint;
pub mod message;
pub mod registrar;
pub mod security;
pub mod udp;

pub use endpoint::{
    CallEnd, CallEvent, CallKey, Endpoint, EndpointConfig, IncomingCall, OutgoingCall, Transmit,
};

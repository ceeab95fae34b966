//! Shared support for callbox's integration tests. Include it with `mod support;`.
//!
//! - `st_server`: the ServiceTitan test server (see its module docs).

#![allow(dead_code)]

pub mod st_server;

//! The queue's settings: `[queue]`, with their validation.

use serde::{Deserialize, Serialize};

use crate::infra::settings::SettingIssue;

/// The offline job queue (`<data_dir>/queue`) that holds work until ServiceTitan has it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Days a record stays after it reached ServiceTitan (status page, `queue list`).
    pub retention_days: u32,
    /// Failed sync attempts before a record is set aside for a person instead of retried.
    pub max_attempts_before_attention: u32,
    /// Size at which the queue's mirror file (its recovery log) is rotated, in bytes.
    pub mirror_max_bytes: u64,
    /// Rotated mirror files kept.
    pub mirror_keep_files: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            retention_days: 30,
            max_attempts_before_attention: 20,
            mirror_max_bytes: 4 * 1024 * 1024,
            mirror_keep_files: 8,
        }
    }
}

impl QueueConfig {
    /// Checks `[queue]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let queue = self;
        if queue.retention_days == 0 {
            v.push(SettingIssue::error(
                "queue.retention_days",
                "must be at least 1 (synced records are kept this many days)",
            ));
        } else if queue.retention_days > 3650 {
            v.push(SettingIssue::error(
                "queue.retention_days",
                format!(
                    "must be at most 3650 ({} given); the queue is not an archive",
                    queue.retention_days
                ),
            ));
        }
        if queue.max_attempts_before_attention == 0 {
            v.push(SettingIssue::error(
                "queue.max_attempts_before_attention",
                "must be at least 1",
            ));
        }
        // Below 64 KiB a single record with a long transcript could force a rotation per write.
        if queue.mirror_max_bytes < 64 * 1024 {
            v.push(SettingIssue::error(
                "queue.mirror_max_bytes",
                format!("must be at least 65536 ({} given)", queue.mirror_max_bytes),
            ));
        }
        if queue.mirror_keep_files == 0 {
            v.push(SettingIssue::error(
                "queue.mirror_keep_files",
                "must be at least 1",
            ));
        }
    }
}

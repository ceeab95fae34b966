//! `callbox queue`: the offline job queue, what is waiting for ServiceTitan and what needs a
//! person. While `callbox run` holds the database, reading falls back to the mirror file.

use super::{current_thread_runtime, load_config};
use crate::queue::{
    ListFilter, Outbox, QueueError, QueueOptions, Record, RecordId, RecordKind, StateName,
};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum QueueAction {
    /// List records, oldest first.
    List {
        /// Only this state: queued, syncing, synced, needs-attention.
        #[arg(long)]
        state: Option<StateName>,
        /// Only this kind: job, note, lead, callback, voicemail, invoice_copy, …
        #[arg(long)]
        kind: Option<RecordKind>,
        /// At most this many records.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one record in full, as JSON.
    Show { id: RecordId },
    /// Send a needs-attention record again (or a queued one now, skipping its back-off).
    Retry { id: RecordId },
    /// Write every record as JSON lines to FILE, or to standard output with `-`.
    Export {
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Add the records of a `queue export` file; ids already in the queue are skipped.
    Import { file: PathBuf },
}

pub fn queue(config_path: Option<&Path>, action: QueueAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let queue = QueueDir {
        dir: config.data_paths().queue,
        opts: QueueOptions::from_settings(&config.queue),
    };
    match action {
        QueueAction::List { state, kind, limit } => queue.list(&ListFilter { state, kind, limit }),
        QueueAction::Show { id } => queue.show(&id),
        QueueAction::Retry { id } => queue.retry(&id),
        QueueAction::Export { file } => queue.export(&file),
        QueueAction::Import { file } => queue.import(&file),
    }
}

/// The queue's directory, opened per action.
struct QueueDir {
    dir: PathBuf,
    opts: QueueOptions,
}

impl QueueDir {
    /// The outbox, or `None` while the running appliance holds it.
    fn open(&self) -> Result<Option<Outbox>> {
        match Outbox::open(&self.dir, self.opts.clone()) {
            Ok((outbox, report)) => {
                if !report.is_clean() {
                    eprintln!("callbox: queue opened with repairs: {report:?}");
                }
                Ok(Some(outbox))
            }
            Err(QueueError::Locked { .. }) => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("opening the queue in {}", self.dir.display()))
            }
        }
    }

    /// The outbox for a change: the running appliance must be stopped first.
    fn open_for_change(&self) -> Result<Outbox> {
        self.open()?.ok_or_else(|| {
            anyhow::anyhow!(
                "the queue in {} is held by the running callbox; stop it first (systemctl stop callbox)",
                self.dir.display()
            )
        })
    }

    fn list(&self, filter: &ListFilter) -> Result<ExitCode> {
        let (records, counts) = match self.open()? {
            Some(outbox) => (outbox.list(filter)?, Some(outbox.counts())),
            None => {
                eprintln!("callbox is running: showing the queue as its mirror file has it");
                (self.list_mirror(filter)?, None)
            }
        };
        print!(
            "{}",
            crate::queue::cli::render_table(&records, chrono::Utc::now())
        );
        if let Some(counts) = counts {
            println!("{}", crate::queue::cli::render_counts(&counts));
        }
        Ok(ExitCode::SUCCESS)
    }

    fn list_mirror(&self, filter: &ListFilter) -> Result<Vec<Record>> {
        let mut records = Outbox::read_mirror(&self.dir)?;
        records.retain(|r| {
            filter.state.is_none_or(|s| s == r.state.name())
                && filter.kind.is_none_or(|k| k == r.kind())
        });
        records.truncate(filter.limit.unwrap_or(usize::MAX));
        Ok(records)
    }

    fn show(&self, id: &RecordId) -> Result<ExitCode> {
        let record = match self.open()? {
            Some(outbox) => outbox.get(id)?,
            None => Outbox::read_mirror(&self.dir)?
                .into_iter()
                .find(|r| &r.id == id),
        };
        let record = record.ok_or_else(|| anyhow::anyhow!("no record {id} in the queue"))?;
        println!("{}", serde_json::to_string_pretty(&record)?);
        Ok(ExitCode::SUCCESS)
    }

    fn retry(&self, id: &RecordId) -> Result<ExitCode> {
        let outbox = self.open_for_change()?;
        let record = current_thread_runtime()?.block_on(outbox.retry(id))?;
        println!("{} is {} again", record.id, record.state);
        Ok(ExitCode::SUCCESS)
    }

    fn export(&self, file: &Path) -> Result<ExitCode> {
        let outbox = self.open_for_change()?;
        let n = if file.as_os_str() == "-" {
            outbox.export_jsonl(std::io::stdout().lock())?
        } else {
            export_to_file(&outbox, file)?
        };
        eprintln!("exported {n} records");
        Ok(ExitCode::SUCCESS)
    }

    fn import(&self, file: &Path) -> Result<ExitCode> {
        let outbox = self.open_for_change()?;
        let input =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let report = current_thread_runtime()?
            .block_on(outbox.import_jsonl(std::io::BufReader::new(input)))?;
        println!(
            "imported {}, already present {}, rejected {}",
            report.imported,
            report.already_present,
            report.rejected.len()
        );
        for (line, reason) in &report.rejected {
            println!("  {}:{line}: {reason}", file.display());
        }
        Ok(if report.rejected.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        })
    }
}

/// Atomic: a half-written export must not look like a whole one.
fn export_to_file(outbox: &Outbox, file: &Path) -> Result<usize> {
    crate::infra::fs::write_atomic_with(file, |out| -> Result<usize> {
        Ok(outbox.export_jsonl(out)?)
    })
    .with_context(|| format!("writing {}", file.display()))
}

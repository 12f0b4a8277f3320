//! Opens the MessageBus and StateStore that `outreach.backend` names: files under `.leadsite/`
//! (the default), or PostgreSQL. Every command that reads or changes the campaign (`schedule`,
//! `status`, `resolve`, `inbox`, `listen`, `publish`, `state export/import`) opens them here.

use super::bus::{FileBus, MessageBus};
use super::postgres::{Db, PgBus, PgStore};
use super::records::Reader;
use super::store::{FileStore, MemoryStore, StateStore};
use crate::config::{Config, StoreBackend};
use crate::error::{Error, Result};

/// The environment variable that holds the database URL (it wins over the config).
pub const DATABASE_URL_VAR: &str = "LEADSITE_DATABASE_URL";

/// How a command uses the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads and changes it (`schedule`, `resolve`): with files, the only writer.
    Work,
    /// Works on a copy in memory (`schedule --dry-run`): nothing changes.
    Copy,
    /// Only reads (`status`, `inbox`), never waits for a worker.
    Read,
}

/// The campaign's bus and store, and the folder bus whatever the backend: its inbox is where
/// outside programs drop events, its quarantine where unreadable log entries go.
pub struct Backend {
    pub store: Box<dyn StateStore>,
    pub bus: Box<dyn MessageBus + Send + Sync>,
    pub folder: FileBus,
    /// The database, when the backend is PostgreSQL.
    pub db: Option<Db>,
}

/// The database URL: `LEADSITE_DATABASE_URL`, else `outreach.database_url`.
pub fn database_url(config: &Config) -> Result<String> {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| config.outreach.database_url.clone())
        .ok_or_else(|| {
            Error::Usage(format!(
                "outreach.backend is postgres, but no database URL is set: set {DATABASE_URL_VAR} (or outreach.database_url)"
            ))
        })
}

/// Connects to the configured database (creating or migrating its schema), if the backend is
/// PostgreSQL.
pub fn database(config: &Config) -> Result<Option<Db>> {
    match config.outreach.backend {
        StoreBackend::Files => Ok(None),
        StoreBackend::Postgres => Db::connect(&database_url(config)?).map(Some),
    }
}

pub fn open(config: &Config, mode: Mode) -> Result<Backend> {
    let folder = FileBus::new(super::orchestrator::bus_dir(config));
    let dir = super::orchestrator::state_dir(config);
    let db = match (config.outreach.backend, mode) {
        (StoreBackend::Files, _) => None,
        (StoreBackend::Postgres, Mode::Work) => database(config)?,
        // Reading or a dry run creates nothing, not even the tables: a database leadsite has
        // not worked in yet reads as an empty campaign.
        (StoreBackend::Postgres, Mode::Copy | Mode::Read) => {
            let db = Db::connect_as_is(&database_url(config)?)?;
            if !db.has_schema()? {
                return Ok(Backend {
                    store: Box::new(MemoryStore::default()),
                    bus: Box::new(super::bus::MemoryBus::default()),
                    folder,
                    db: Some(db),
                });
            }
            Some(db)
        }
    };
    Ok(match db {
        None => {
            let store: Box<dyn StateStore> = match mode {
                Mode::Work => Box::new(FileStore::open(&dir)?),
                Mode::Copy | Mode::Read => Box::new(FileStore::read_copy(&dir)?),
            };
            Backend {
                store,
                bus: Box::new(FileBus::new(super::orchestrator::bus_dir(config))),
                folder,
                db: None,
            }
        }
        Some(db) => {
            let store: Box<dyn StateStore> = match mode {
                Mode::Work => Box::new(PgStore::open(db.clone())?),
                Mode::Copy => Box::new(MemoryStore::copy_of(&PgStore::read(db.clone())?)?),
                Mode::Read => Box::new(PgStore::read(db.clone())?),
            };
            Backend {
                store,
                bus: Box::new(PgBus::new(db.clone())),
                folder,
                db: Some(db),
            }
        }
    })
}

/// The channels' records as they stand at each call, whatever the backend (`listen`).
pub fn records_reader(config: &Config) -> Result<Reader> {
    Ok(match database(config)? {
        None => {
            let work = config.work_dir();
            Box::new(move || super::records::read_files(&work))
        }
        Some(db) => Box::new(move || super::postgres::read_records(&db)),
    })
}

/// The bus alone (`publish`, `listen`).
pub fn open_bus(config: &Config) -> Result<Box<dyn MessageBus + Send + Sync>> {
    Ok(match database(config)? {
        None => Box::new(FileBus::new(super::orchestrator::bus_dir(config))),
        Some(db) => Box::new(PgBus::new(db)),
    })
}

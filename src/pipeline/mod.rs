//! The stages (normalize, validate, dedup, route, enrich, score) as plain functions over leads, and the records they pass along.
//!
//! `ingest` runs MapsSearch import → Normalize → Validate → Dedup → Route → Format/Export; the
//! contract of each stage (see [`contract`]) is checked after it runs.

pub(crate) mod contract;
pub(crate) mod dedup;
pub mod enrich;
pub(crate) mod export;
pub mod import;
pub(crate) mod ingest;
pub(crate) mod normalize;
pub(crate) mod route;
pub mod score;
pub(crate) mod validate;

use std::fmt;

use serde::Serialize;

use crate::error::Location;
use crate::lead::Lead;

/// A lead on its way through the stages, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique within one run; a contract check pairs a stage's output with its input by it.
    pub id: usize,
    pub origin: Location,
    pub lead: Lead,
    /// Values a stage could not use, for Validate to decide on.
    pub issues: Vec<Issue>,
}

impl Record {
    pub fn new(id: usize, origin: Location, lead: Lead) -> Self {
        Record {
            id,
            origin,
            lead,
            issues: Vec::new(),
        }
    }
}

/// One problem with one value of a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    pub reason: RejectReason,
    pub field: &'static str,
    pub value: String,
}

impl Issue {
    pub fn new(reason: RejectReason, field: &'static str, value: impl Into<String>) -> Self {
        Issue {
            reason,
            field,
            value: value.into(),
        }
    }
}

/// Why Validate rejected a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    MissingName,
    NoLocation,
    InvalidCoordinates,
    InvalidPhone,
    InvalidEmail,
    InvalidWebsite,
    InvalidRating,
    InvalidReviewCount,
    InvalidDedupKey,
    InvalidTimezone,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingName => "missing_name",
            RejectReason::NoLocation => "no_location",
            RejectReason::InvalidCoordinates => "invalid_coordinates",
            RejectReason::InvalidPhone => "invalid_phone",
            RejectReason::InvalidEmail => "invalid_email",
            RejectReason::InvalidWebsite => "invalid_website",
            RejectReason::InvalidRating => "invalid_rating",
            RejectReason::InvalidReviewCount => "invalid_review_count",
            RejectReason::InvalidDedupKey => "invalid_dedup_key",
            RejectReason::InvalidTimezone => "invalid_timezone",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Stage contracts: each stage names the fields it may write (its input and output are the
//! leads before and after it: raw → normalized → valid → unique → routed → enriched → scored).
//! After a stage runs, its output is compared with its input lead by lead; a field outside the
//! stage's namespace that was removed, changed or added stops the run, naming the lead and field.

use std::collections::HashMap;

use rayon::prelude::*;
use serde_yaml_ng::{Mapping, Value};

use super::Record;
use crate::error::ContractViolation;
use crate::lead::{key_name, Lead};

/// A stage's name and the top-level fields it may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    pub stage: &'static str,
    /// Top-level fields (a namespace such as `enrichment` is one field) the stage may add or
    /// change. Every other field must come out as it went in.
    pub writes: &'static [&'static str],
}

impl Contract {
    fn may_write(&self, field: &str) -> bool {
        self.writes.contains(&field)
    }

    /// Runs a stage that maps each record to one record (Normalize, Route, Enrich, Score), in
    /// parallel, checking each output lead against its input as it goes.
    pub fn map<F>(&self, records: Vec<Record>, stage: F) -> Result<Vec<Record>, ContractViolation>
    where
        F: Fn(Record) -> Record + Sync + Send,
    {
        records
            .into_par_iter()
            .map(|rec| {
                let before = rec.lead.clone();
                let out = stage(rec);
                self.check_lead(&before, &out.lead)?;
                Ok(out)
            })
            .collect()
    }

    /// Checks one lead after a stage: every field outside the stage's namespace is as it was.
    pub fn check_lead(&self, before: &Lead, after: &Lead) -> Result<(), ContractViolation> {
        match before
            .changes(after)
            .into_iter()
            .find(|(f, _)| !self.may_write(f))
        {
            Some((field, change)) => Err(self.violation(after.label(), &field, change.as_str())),
            None => Ok(()),
        }
    }

    /// Checks a stage's whole output against its input, pairing records by id: a filter may drop
    /// records but not invent them.
    pub fn check(&self, before: &[Record], after: &[Record]) -> Result<(), ContractViolation> {
        let index: HashMap<usize, &Record> = before.iter().map(|r| (r.id, r)).collect();
        after
            .par_iter()
            .try_for_each(|out| match index.get(&out.id) {
                Some(input) => self.check_lead(&input.lead, &out.lead),
                None => Err(self.violation(
                    out.lead.label(),
                    "(whole lead)",
                    "added outside the stage's namespace",
                )),
            })
    }

    /// Checks a stage that merges leads (Dedup): the output keeps every field of its primary input
    /// unchanged (it may fill fields the primary lacked), and holds every field of every lead merged
    /// into it.
    pub fn check_merge(
        &self,
        primary: &Record,
        merged: &[&Record],
        out: &Record,
    ) -> Result<(), ContractViolation> {
        let out_map = out.lead.to_mapping();
        self.compare(&primary.lead.to_mapping(), &out_map, out.lead.label(), true)?;
        for other in merged {
            for (k, _) in other.lead.to_mapping() {
                let key = key_name(&k);
                if !self.may_write(&key) && !out_map.contains_key(&k) {
                    return Err(self.violation(out.lead.label(), &key, "removed"));
                }
            }
        }
        Ok(())
    }

    fn compare(
        &self,
        before: &Mapping,
        after: &Mapping,
        lead: &str,
        may_fill: bool,
    ) -> Result<(), ContractViolation> {
        for (k, v) in before {
            let key = key_name(k);
            if self.may_write(&key) {
                continue;
            }
            match after.get(k) {
                None => return Err(self.violation(lead, &key, "removed")),
                Some(w) if w != v => {
                    let filled = may_fill && superset(w, v);
                    if !filled {
                        return Err(self.violation(lead, &key, "changed"));
                    }
                }
                Some(_) => {}
            }
        }
        if !may_fill {
            if let Some(k) = after
                .keys()
                .find(|k| !before.contains_key(*k) && !self.may_write(&key_name(k)))
            {
                return Err(self.violation(
                    lead,
                    &key_name(k),
                    "added outside the stage's namespace",
                ));
            }
        }
        Ok(())
    }

    fn violation(&self, lead: &str, field: &str, what: &'static str) -> ContractViolation {
        ContractViolation {
            stage: self.stage,
            lead: lead.to_string(),
            field: field.to_string(),
            what,
        }
    }
}

/// Whether `bigger` holds everything `smaller` does: a nested mapping that only gained keys.
fn superset(bigger: &Value, smaller: &Value) -> bool {
    match (bigger, smaller) {
        (Value::Mapping(b), Value::Mapping(s)) => s
            .iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| w == v || superset(w, v))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{Lead, Route};

    const ROUTE: Contract = Contract {
        stage: "route",
        writes: &["route", "route_reason"],
    };

    fn rec(id: usize, lead: Lead) -> Record {
        Record::new(id, Default::default(), lead)
    }

    fn lead() -> Lead {
        let mut l = Lead {
            dedup_key: "acme".into(),
            name: "Acme".into(),
            phone: Some("+12175550134".into()),
            ..Default::default()
        };
        l.extra.insert("crm_id", 42.into());
        l
    }

    #[test]
    fn a_stage_that_writes_its_namespace_passes() {
        let before = vec![rec(0, lead())];
        let mut after = before.clone();
        after[0].lead.route = Some(Route::Target);
        after[0].lead.route_reason = Some("x".into());
        ROUTE.check(&before, &after).unwrap();
    }

    #[test]
    fn a_stage_that_changes_another_field_is_caught() {
        let before = vec![rec(0, lead())];
        let mut after = before.clone();
        after[0].lead.phone = Some("+10000000000".into());
        let v = ROUTE.check(&before, &after).unwrap_err();
        assert_eq!(
            (v.stage, v.lead.as_str(), v.field.as_str(), v.what),
            ("route", "acme", "phone", "changed")
        );
        assert_eq!(
            v.to_string(),
            "stage route broke its contract on lead acme: field phone was changed"
        );
    }

    #[test]
    fn a_stage_that_drops_an_unknown_field_is_caught() {
        let before = vec![rec(0, lead())];
        let mut after = before.clone();
        after[0].lead.extra.clear();
        let v = ROUTE.check(&before, &after).unwrap_err();
        assert_eq!((v.field.as_str(), v.what), ("crm_id", "removed"));
    }

    #[test]
    fn a_stage_that_writes_outside_its_namespace_is_caught() {
        let before = vec![rec(0, lead())];
        let mut after = before.clone();
        after[0].lead.quality = Some(Default::default());
        let v = ROUTE.check(&before, &after).unwrap_err();
        assert_eq!(
            (v.field.as_str(), v.what),
            ("quality", "added outside the stage's namespace")
        );
    }

    #[test]
    fn map_runs_the_stage_and_checks_each_lead() {
        let out = ROUTE.map(vec![rec(0, lead())], |mut r| {
            r.lead.route = Some(Route::Nurture);
            r
        });
        assert_eq!(out.unwrap()[0].lead.route, Some(Route::Nurture));
        let v = ROUTE
            .map(vec![rec(0, lead())], |mut r| {
                r.lead.name = "Renamed".into();
                r
            })
            .unwrap_err();
        assert_eq!(
            (v.lead.as_str(), v.field.as_str(), v.what),
            ("acme", "name", "changed")
        );
    }

    #[test]
    fn a_filter_may_drop_whole_leads_but_not_invent_them() {
        let before = vec![rec(0, lead()), rec(1, lead())];
        ROUTE.check(&before, &before[1..]).unwrap();
        let v = ROUTE.check(&before[..1], &before[1..]).unwrap_err();
        assert_eq!(v.field, "(whole lead)");
    }

    #[test]
    fn a_merge_may_fill_but_not_lose() {
        let dedup = Contract {
            stage: "dedup",
            writes: &["dedup_key"],
        };
        let primary = rec(0, lead());
        let mut other = lead();
        other.website = Some("https://acme.example/".into());
        let other = rec(1, other);
        let mut out = primary.clone();
        out.lead.website = other.lead.website.clone();
        dedup.check_merge(&primary, &[&other], &out).unwrap();
        let v = dedup
            .check_merge(&primary, &[&other], &primary)
            .unwrap_err();
        assert_eq!((v.field.as_str(), v.what), ("website", "removed"));
    }
}

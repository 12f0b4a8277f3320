//! Writing lead files: the same shape the file had (one lead, a list, documents), the known
//! fields in schema order, then the unknown ones in the order they came.

use std::path::Path;

use super::{Lead, LeadFile, Shape};
use crate::error::Result;
use crate::fsutil::{self, WriteOutcome};

/// One lead as a YAML document.
pub fn to_yaml(lead: &Lead) -> String {
    // A Lead serializes to a mapping of strings, numbers and nested mappings: this cannot fail.
    serde_yaml_ng::to_string(lead).expect("a lead always serializes")
}

/// The text of a lead file in its shape.
pub fn file_to_yaml(file: &LeadFile) -> String {
    match (file.shape, file.leads.as_slice()) {
        (Shape::Single, [lead]) => to_yaml(lead),
        (Shape::Documents, leads) | (Shape::Single, leads) => {
            leads.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
        }
        (Shape::List, leads) => serde_yaml_ng::to_string(leads).expect("leads always serialize"),
    }
}

/// Writes a new lead file (nothing is at its path).
pub fn create_file(file: &LeadFile) -> Result<WriteOutcome> {
    // A new lead (an imported row: text and numbers) is checked against the limits a reader
    // applies, not read back whole: that doubled the cost of a wide import.
    let text = within_limits(file, file_to_yaml(file))?;
    fsutil::write_atomic(&file.path, text.as_bytes(), false)?;
    Ok(WriteOutcome::Created)
}

/// Writes a lead file if its text changed, keeping the comments written in it by hand.
pub fn write_file(file: &LeadFile) -> Result<WriteOutcome> {
    // The file as it is now (leadsite read it under the same lock); unreadable: no comments.
    let text = match crate::limits::read_text(&file.path, crate::limits::MAX_TEXT_FILE) {
        Ok(old) => rewrite(&old, file),
        Err(_) => file_to_yaml(file),
    };
    let text = reads_back(file, text)?;
    fsutil::write_if_changed(&file.path, text.as_bytes())
}

/// The text of `file` written over `old` (the file's text now): its leads as leadsite writes
/// them, with the comments of `old` carried over.
pub fn rewrite(old: &str, file: &LeadFile) -> String {
    super::comments::carry(old, &file_to_yaml(file))
}

/// `text` when leadsite reads it back as `file`'s leads, as every later command would read the
/// file (its size, the YAML guard, each lead); else an input error saying why, and nothing is
/// written: a lead file that loads must never be rewritten into one that does not (a list
/// written out one item a line can pass the size limit; nesting written on one line, the
/// guard's).
fn reads_back(file: &LeadFile, text: String) -> Result<String> {
    within_size(file, &text)?;
    // Parsing runs the guard as a reader does.
    let (again, errors) = super::parse_str(&text, &file.path);
    if let Some(e) = errors.first() {
        return Err(refuse(file, e.to_string()));
    }
    // Compared as written (`.nan` is `.nan` both times; as numbers NaN is never equal).
    let same = again.leads.len() == file.leads.len()
        && again
            .leads
            .iter()
            .zip(&file.leads)
            .all(|(a, b)| to_yaml(a) == to_yaml(b));
    if !same {
        return Err(refuse(file, "it reads as other data".into()));
    }
    Ok(text)
}

fn within_size(file: &LeadFile, text: &str) -> Result<()> {
    if text.len() as u64 > crate::limits::MAX_TEXT_FILE {
        return Err(refuse(
            file,
            format!(
                "{} MiB, over the {} MiB limit of a lead file",
                text.len() >> 20,
                crate::limits::MAX_TEXT_FILE >> 20
            ),
        ));
    }
    Ok(())
}

/// `text` when it is within what a reader of lead files accepts: the size limit and the YAML
/// guard (a scan, no parse).
fn within_limits(file: &LeadFile, text: String) -> Result<String> {
    within_size(file, &text)?;
    if let Err(e) = crate::limits::check_yaml(&text, &file.path) {
        return Err(refuse(file, e.to_string()));
    }
    Ok(text)
}

fn refuse(file: &LeadFile, why: String) -> crate::error::Error {
    crate::error::InputError::new(
        crate::error::Location::file(&file.path),
        format!("not written: leadsite would not read the file back ({why})"),
    )
    .into()
}

/// The file a new lead is written to: `<dir>/<dedup_key>.yaml`. The key is checked again here,
/// so no key can name a path outside `dir`.
pub fn path_for(dir: &Path, lead: &Lead) -> Result<std::path::PathBuf> {
    if !super::is_valid_key(&lead.dedup_key) {
        return Err(crate::error::InputError::new(
            crate::error::Location::file(dir),
            "refusing to write this lead: its dedup_key is not [a-z0-9-]",
        )
        .with_lead(crate::text::cut(&lead.dedup_key, 80))
        .with_field("dedup_key")
        .into());
    }
    Ok(dir.join(format!("{}.yaml", lead.dedup_key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::parse_str;

    #[test]
    fn a_lead_with_not_a_number_reads_back_as_itself() {
        let (f, e) = parse_str("dedup_key: a\nname: A\nx: .nan\n", Path::new("x.yaml"));
        assert!(e.is_empty(), "{e:?}");
        assert!(reads_back(&f, file_to_yaml(&f)).is_ok());
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = "dedup_key: a\nname: A\ncustom: {x: 1}\nflag: no\nzip: '01234'\naddress: {city: X, floor: 3}\n";
        let (file, errs) = parse_str(text, Path::new("a.yaml"));
        assert!(errs.is_empty());
        let out = file_to_yaml(&file);
        let (again, errs) = parse_str(&out, Path::new("a.yaml"));
        assert!(errs.is_empty());
        assert_eq!(again.leads, file.leads);
        assert!(out.contains("zip: '01234'"), "{out}");
        assert!(out.contains("floor: 3"), "{out}");
    }

    #[test]
    fn a_large_unknown_field_survives_a_round_trip_whole() {
        let osm: String = (0..100).map(|i| format!("  tag{i}: v{i}\n")).collect();
        let text = format!("dedup_key: a\nname: A\nosm:\n{osm}address:\n  city: X\n  floor: 2\n");
        let (file, errs) = parse_str(&text, Path::new("a.yaml"));
        assert!(errs.is_empty(), "{errs:?}");
        let out = file_to_yaml(&file);
        assert!(out.contains("\n  floor: 2\n"), "{out}");
        assert!(
            out.contains("\nosm:\n  tag0: v0\n") && out.contains("\n  tag99: v99\n"),
            "{out}"
        );
        let (again, _) = parse_str(&out, Path::new("a.yaml"));
        assert_eq!(again.leads, file.leads);
    }

    #[test]
    fn shapes_are_kept() {
        for text in [
            "- dedup_key: a\n  name: A\n- dedup_key: b\n  name: B\n",
            "dedup_key: a\nname: A\n---\ndedup_key: b\nname: B\n",
        ] {
            let (file, _) = parse_str(text, Path::new("a.yaml"));
            let (again, _) = parse_str(&file_to_yaml(&file), Path::new("a.yaml"));
            assert_eq!(again, file);
        }
    }

    #[test]
    fn a_hostile_key_cannot_leave_the_folder() {
        let lead = Lead {
            dedup_key: "../../x".into(),
            name: "X".into(),
            ..Default::default()
        };
        assert!(path_for(Path::new("leads"), &lead).is_err());
    }
}

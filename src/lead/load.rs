//! Reading lead files. A file under `leads/` holds one lead (a mapping), a list of leads, or
//! several `---` documents of either. A broken file or lead is reported with its line and column
//! and never stops the others: the good leads of a file with one bad lead still load.

use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_yaml_ng::Value;

use super::Lead;
use crate::error::{yaml_error, InputError, Location};

/// How a file lays out its leads, so a rewrite keeps the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// One mapping.
    Single,
    /// One sequence of mappings.
    List,
    /// Several `---` documents.
    Documents,
}

/// The leads of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadFile {
    pub path: PathBuf,
    pub shape: Shape,
    pub leads: Vec<Lead>,
}

/// Every lead under a folder, and every problem met on the way.
#[derive(Debug, Default)]
pub struct LoadedLeads {
    pub files: Vec<LeadFile>,
    pub errors: Vec<InputError>,
}

impl LoadedLeads {
    pub fn leads(&self) -> impl Iterator<Item = (&Path, &Lead)> {
        self.files
            .iter()
            .flat_map(|f| f.leads.iter().map(move |l| (f.path.as_path(), l)))
    }

    pub fn count(&self) -> usize {
        self.files.iter().map(|f| f.leads.len()).sum()
    }
}

/// Loads every `*.yaml` / `*.yml` file under `dir`, in sorted path order, in parallel. A missing
/// folder holds no leads.
pub fn load_dir(dir: &Path) -> LoadedLeads {
    let (paths, errors) = lead_paths(dir);
    let results: Vec<_> = paths.par_iter().map(|p| load_file(p)).collect();
    let mut loaded = LoadedLeads {
        files: Vec::with_capacity(results.len()),
        errors,
    };
    for (file, errs) in results {
        loaded.files.extend(file);
        loaded.errors.extend(errs);
    }
    loaded
}

/// The lead files under `dir` in sorted path order, and an error for each entry named like one
/// that is not read (a link, a FIFO) or cannot be listed.
pub(crate) fn lead_paths(dir: &Path) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    if dir.exists() {
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && is_lead_file(e.path()) => {
                    paths.push(e.into_path())
                }
                // A link is never followed (it may lead out of the project) nor replaced: it is
                // reported, and ingest writes no lead over it.
                Ok(e) if e.path_is_symlink() && is_lead_file(e.path()) => {
                    errors.push(InputError::new(
                        Location::file(e.path()),
                        "is a symbolic link: not read, and never written over (keep lead files in leads/ as files)",
                    ))
                }
                // A FIFO, socket or device named like a lead file: never opened, but said.
                Ok(e) if !e.file_type().is_dir()
                    && !e.path_is_symlink()
                    && is_lead_file(e.path()) =>
                {
                    errors.push(InputError::new(
                        Location::file(e.path()),
                        "not a regular file (a FIFO, socket or device): not read",
                    ))
                }
                // A linked folder is not walked either, and the leads in it are not silently
                // missing: it is reported.
                Ok(e) if e.path_is_symlink() && e.path().is_dir() => {
                    errors.push(InputError::new(
                        Location::file(e.path()),
                        "is a symbolic link to a folder: not read (keep lead files in leads/ as files)",
                    ))
                }
                Ok(_) => {}
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| dir.to_path_buf());
                    errors.push(InputError::new(Location::file(path), e.to_string()));
                }
            }
        }
    }
    (paths, errors)
}

fn is_lead_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    let ext = path.extension().and_then(|e| e.to_str());
    !hidden && matches!(ext, Some("yaml") | Some("yml"))
}

/// Reads and parses one lead file.
pub fn load_file(path: &Path) -> (Option<LeadFile>, Vec<InputError>) {
    match read_file(path) {
        Ok(text) => load_text(&text, path),
        Err(e) => (None, vec![e]),
    }
}

/// The text of a lead file, within the size a lead file may have.
pub(crate) fn read_file(path: &Path) -> Result<String, InputError> {
    crate::limits::read_text(path, crate::limits::MAX_TEXT_FILE)
}

/// Parses the text of lead file `path` as [`load_file`] does.
pub(crate) fn load_text(text: &str, path: &Path) -> (Option<LeadFile>, Vec<InputError>) {
    // A text the guard refuses is not read at all (`None`: its leads are kept as they were).
    match guarded(text, path) {
        Ok(text) => {
            let (file, errors) = parse_checked(text, path);
            (Some(file), errors)
        }
        Err(e) => (None, vec![e]),
    }
}

/// Parses the text of a lead file. Returns the leads that parsed and an error for each that did
/// not.
pub fn parse_str(text: &str, path: &Path) -> (LeadFile, Vec<InputError>) {
    match guarded(text, path) {
        Ok(text) => parse_checked(text, path),
        Err(e) => {
            let file = LeadFile {
                path: path.to_path_buf(),
                shape: Shape::Single,
                leads: Vec::new(),
            };
            (file, vec![e])
        }
    }
}

/// The YAML of a lead file's text, without a byte-order mark (editors on Windows write one),
/// once the YAML guard has passed it.
fn guarded<'a>(text: &'a str, path: &Path) -> Result<&'a str, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    crate::limits::check_yaml(text, path)?;
    Ok(text)
}

/// [`parse_str`] of a text the YAML guard has passed (without a byte-order mark).
fn parse_checked(text: &str, path: &Path) -> (LeadFile, Vec<InputError>) {
    let mut leads = Vec::new();
    let mut errors = Vec::new();
    let mut docs = 0;
    let mut shape = Shape::Single;
    // Every document as plain YAML, read once at the first bad one (reading them again for each
    // bad document made a file of many bad leads quadratic: 4,000 took over a minute).
    let mut plain: Option<Vec<Result<Value, serde_yaml_ng::Error>>> = None;
    // YAML merge keys (`<<: *defaults`) are applied as YAML says, through a plain value: read
    // as a field, a rewrite would write `<<:` back beside the copied fields.
    let merges = text.contains("<<");
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        docs += 1;
        let typed = if merges {
            Value::deserialize(doc).and_then(|mut v| {
                v.apply_merge()?;
                DocLeads::deserialize(v)
            })
        } else {
            DocLeads::deserialize(doc)
        };
        match typed {
            Ok(DocLeads { leads: found, list }) => {
                if list {
                    shape = Shape::List;
                }
                leads.extend(found);
            }
            Err(err) => {
                let mut located = yaml_error(path, &err);
                // A merge key that cannot be applied (`<<: 5`) comes without a place: the
                // first `<<` line of the text is the best one known.
                if located.location.line.is_none() && merges {
                    located.location.line = text
                        .lines()
                        .position(|l| l.trim_start().trim_start_matches("- ").starts_with("<<"))
                        .map(|i| i as u64 + 1);
                }
                let all = plain.get_or_insert_with(|| {
                    // Up to the first syntax error: past it the parser only repeats it.
                    let mut all = Vec::new();
                    for d in serde_yaml_ng::Deserializer::from_str(text) {
                        let v = Value::deserialize(d);
                        // A repeated key spoils its document only; the next one still reads.
                        let stop = v.as_ref().is_err_and(|e| !is_repeated_key(e));
                        all.push(v);
                        if stop {
                            break;
                        }
                    }
                    all
                });
                match salvage(all.get(index), path, located) {
                    Salvaged::Syntax(e) => {
                        errors.push(e);
                        break;
                    }
                    Salvaged::Leads { good, bad, list } => {
                        if list {
                            shape = Shape::List;
                        }
                        leads.extend(good);
                        errors.extend(bad);
                    }
                }
            }
        }
    }
    if docs > 1 {
        shape = Shape::Documents;
    }
    leads.iter_mut().for_each(Lead::shrink_to_fit);
    (
        LeadFile {
            path: path.to_path_buf(),
            shape,
            leads,
        },
        errors,
    )
}

enum Salvaged {
    Syntax(InputError),
    Leads {
        good: Vec<Lead>,
        bad: Vec<InputError>,
        list: bool,
    },
}

/// A document failed to load as typed leads. Load it as plain YAML to find out whether the file is
/// broken (syntax) or only some leads in it are, and keep the good ones.
fn salvage(
    doc: Option<&Result<Value, serde_yaml_ng::Error>>,
    path: &Path,
    located: InputError,
) -> Salvaged {
    let value = match doc {
        Some(Ok(v)) => v.clone(),
        // The typed pass named the repeated field and its line; the document's leads cannot be
        // told apart without it, so none of them is loaded (and the file is never rewritten).
        Some(Err(e)) if is_repeated_key(e) => {
            return Salvaged::Leads {
                good: Vec::new(),
                bad: vec![located],
                list: false,
            }
        }
        Some(Err(e)) => return Salvaged::Syntax(yaml_error(path, e)),
        None => return Salvaged::Syntax(located),
    };
    let (items, list) = match value {
        Value::Sequence(items) => (items, true),
        Value::Mapping(_) => (vec![value], false),
        other => {
            let e = InputError::new(
                located.location,
                format!(
                    "expected a lead (a mapping) or a list of leads, found {}",
                    kind(&other)
                ),
            );
            return Salvaged::Syntax(e);
        }
    };
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut first = Some(located);
    for (i, item) in items.into_iter().enumerate() {
        let label = item_label(&item);
        match Lead::deserialize(item) {
            Ok(lead) => good.push(lead),
            Err(e) => {
                // The first bad lead is the one the typed pass stopped at, with its line.
                let err = match first.take() {
                    Some(located) => located,
                    None => {
                        let mut loc = Location::file(path);
                        loc.item = Some(i);
                        yaml_error(path, &e).with_location(loc)
                    }
                };
                bad.push(err.with_lead(label));
            }
        }
    }
    bad.extend(first);
    Salvaged::Leads { good, bad, list }
}

/// Whether plain YAML failed only because a mapping repeats a key (not a syntax error).
fn is_repeated_key(e: &serde_yaml_ng::Error) -> bool {
    // serde_yaml_ng's message, after the path to the mapping (`address: duplicate entry …`).
    e.to_string().contains("duplicate entry ")
}

fn item_label(item: &Value) -> String {
    let get = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    get("dedup_key").or_else(|| get("name")).unwrap_or_default()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl InputError {
    fn with_location(mut self, location: Location) -> Self {
        self.location = location;
        self
    }
}

/// One YAML document of a lead file: a lead, a list of leads, or nothing.
struct DocLeads {
    leads: Vec<Lead>,
    list: bool,
}

impl<'de> Deserialize<'de> for DocLeads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = DocLeads;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a lead (a mapping) or a list of leads")
    }

    fn visit_unit<E: de::Error>(self) -> Result<DocLeads, E> {
        Ok(DocLeads {
            leads: Vec::new(),
            list: false,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DocLeads, A::Error> {
        let lead = Lead::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(DocLeads {
            leads: vec![lead],
            list: false,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DocLeads, A::Error> {
        let mut leads = Vec::new();
        while let Some(lead) = seq.next_element::<Lead>()? {
            leads.push(lead);
        }
        Ok(DocLeads { leads, list: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (LeadFile, Vec<InputError>) {
        parse_str(text, Path::new("leads/t.yaml"))
    }

    #[test]
    fn one_lead_a_list_and_documents() {
        let (f, e) = parse("dedup_key: a\nname: A\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!((f.shape, f.leads.len()), (Shape::Single, 1));

        let (f, e) = parse("- dedup_key: a\n  name: A\n- dedup_key: b\n  name: B\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!((f.shape, f.leads.len()), (Shape::List, 2));

        let (f, e) = parse("dedup_key: a\nname: A\n---\ndedup_key: b\nname: B\n---\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!((f.shape, f.leads.len()), (Shape::Documents, 2));
    }

    #[test]
    fn type_error_names_line_column_and_field() {
        let (f, e) = parse("dedup_key: a\nname: A\nrating: lots\n");
        assert!(f.leads.is_empty());
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].location.line, Some(3), "{}", e[0]);
        assert_eq!(e[0].field.as_deref(), Some("rating"), "{}", e[0]);
        assert_eq!(e[0].lead.as_deref(), Some("a"));
    }

    #[test]
    fn a_rating_or_coordinate_that_is_not_a_finite_number_is_an_error_naming_it() {
        // NaN is not equal to itself: kept, it made every build fail its stage contracts.
        let text = "- dedup_key: a\n  name: A\n  rating: .nan\n- dedup_key: b\n  name: B\n  location: {lat: .inf, lng: 1}\n- dedup_key: c\n  name: C\n  rating: 4.5\n  location: {lat: -0.0, lng: 1e2}\n- dedup_key: d\n  name: D\n  rating: ~\n";
        let (f, e) = parse(text);
        let keys: Vec<_> = f.leads.iter().map(|l| l.dedup_key.as_str()).collect();
        assert_eq!(keys, ["c", "d"]);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].field.as_deref().is_some_and(|f| f.ends_with("rating")),
            "{}",
            e[0]
        );
        assert_eq!(e[0].location.line, Some(3), "{}", e[0]);
        assert!(
            e[0].to_string()
                .contains("rating is NaN: it must be a finite number"),
            "{}",
            e[0]
        );
        assert_eq!(e[1].lead.as_deref(), Some("b"), "{}", e[1]);
        assert!(
            e[1].to_string()
                .contains("lat is inf: it must be a finite number"),
            "{}",
            e[1]
        );
    }

    #[test]
    fn good_leads_of_a_list_survive_a_bad_one() {
        let text = "- dedup_key: a\n  name: A\n- dedup_key: b\n  name: B\n  review_count: many\n- dedup_key: c\n  name: C\n";
        let (f, e) = parse(text);
        let keys: Vec<_> = f.leads.iter().map(|l| l.dedup_key.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].location.line, Some(5), "{}", e[0]);
        assert_eq!(e[0].lead.as_deref(), Some("b"));
    }

    #[test]
    fn syntax_error_has_a_location() {
        let (f, e) = parse("dedup_key: a\nname: [unclosed\n");
        assert!(f.leads.is_empty());
        assert_eq!(e.len(), 1);
        assert!(e[0].location.line.is_some(), "{}", e[0]);
    }

    #[test]
    fn missing_required_field_is_reported() {
        let (_, e) = parse("name: A\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("dedup_key"), "{}", e[0]);
    }

    #[test]
    fn a_scalar_document_is_an_error_not_a_panic() {
        let (f, e) = parse("just a string\n");
        assert!(f.leads.is_empty());
        assert_eq!(e.len(), 1, "{e:?}");
    }

    fn round_trip(text: &str) -> String {
        let (f, e) = parse(text);
        assert!(e.is_empty(), "{e:?}");
        crate::lead::save::file_to_yaml(&f)
    }

    #[test]
    fn a_tagged_unknown_field_loads_and_is_written_back_as_it_was() {
        // serde's flattened fields could not hold a tag: the whole lead was unreadable.
        let text = "dedup_key: a\nname: A\nsize: !big 3\nenrichment:\n  note: !seen yes\n";
        let out = round_trip(text);
        assert!(out.contains("size: !big 3"), "{out}");
        assert!(out.contains("note: !seen yes"), "{out}");
    }

    #[test]
    fn a_key_written_as_a_number_or_a_boolean_is_written_back_so() {
        let out = round_trip("dedup_key: a\nname: A\n1: one\ntrue: yes\n2.5: half\n");
        for line in ["1: one", "true: yes", "2.5: half"] {
            assert!(out.contains(&format!("\n{line}\n")), "{line} in {out}");
        }
    }

    #[test]
    fn a_repeated_field_is_an_error_naming_it_and_its_line() {
        for (text, field) in [
            ("dedup_key: a\nname: A\nnote: 1\nnote: 2\n", "note"),
            ("dedup_key: a\nname: A\n1: x\n'1': y\n", "1"),
            ("dedup_key: a\nname: A\nname: B\n", "name"),
            (
                "dedup_key: a\nname: A\naddress:\n  city: X\n  zone: 1\n  zone: 2\n",
                "zone",
            ),
        ] {
            let (f, e) = parse(text);
            assert!(f.leads.is_empty(), "{text}");
            assert_eq!(e.len(), 1, "{text}: {e:?}");
            assert!(
                e[0].message.contains(&format!("duplicate field `{field}`")),
                "{text}: {}",
                e[0]
            );
            assert!(e[0].location.line.is_some(), "{}", e[0]);
        }
    }

    #[test]
    fn a_repeated_field_spoils_its_document_only() {
        let text = "dedup_key: a\nname: A\nnote: 1\nnote: 2\n---\ndedup_key: b\nname: B\n";
        let (f, e) = parse(text);
        let keys: Vec<_> = f.leads.iter().map(|l| l.dedup_key.as_str()).collect();
        assert_eq!(keys, ["b"]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].location.line, Some(4), "{}", e[0]);
    }

    #[test]
    fn a_key_that_is_not_a_name_is_an_error_naming_its_line() {
        for text in [
            "dedup_key: a\nname: A\n? [x, y]\n: z\n",
            "dedup_key: a\nname: A\n~: z\n",
            "dedup_key: a\nname: A\n!k x: z\n",
        ] {
            let (f, e) = parse(text);
            assert!(f.leads.is_empty(), "{text}");
            assert_eq!(e.len(), 1, "{text}: {e:?}");
            assert!(e[0].message.contains("field name"), "{text}: {}", e[0]);
            assert_eq!(e[0].location.line, Some(3), "{text}: {}", e[0]);
        }
    }

    #[test]
    fn a_merge_key_that_cannot_be_applied_is_named_at_its_line() {
        let (_, e) = parse_str("dedup_key: a\nname: A\n<<: 5\n", Path::new("x.yaml"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].location.line, Some(3), "{}", e[0]);
        assert!(e[0].message.contains("merging"), "{}", e[0]);
    }

    #[test]
    fn a_byte_order_mark_is_no_part_of_the_lead() {
        let (file, e) = parse_str("\u{feff}dedup_key: a\nname: A\n", Path::new("x.yaml"));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(file.leads[0].dedup_key, "a");
    }
}

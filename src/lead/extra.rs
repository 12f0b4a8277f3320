//! A lead's unknown fields (`extra`), kept compactly. An import may carry thousands of columns
//! leadsite does not map, on every row; a YAML mapping spends about 180 bytes on each of them
//! (two 80-byte values, a hash, two allocations), so a 40 MB CSV of 2,000 columns took 4.7 GB.
//! Here an entry is 40 bytes: its key shared between leads, a text value held inline up to 24
//! bytes, and a large nested value (an OpenStreetMap feature with 2,000 tags) kept as its YAML
//! text until it is read. Order is kept as written, so a lead file is rewritten as it was.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_yaml_ng::{Mapping, Value};

/// A nested value with more nodes than this is kept as YAML text (read back when it is used).
const LARGE: usize = 64;
/// Keys remembered per thread for sharing: field names repeat across leads; a hostile file
/// with a new name on every row must not grow the table without end.
const INTERNED: usize = 4096;
/// Past this many entries, a batch insert finds duplicates with a hash table.
const SCAN: usize = 16;

/// Unknown fields in the order they were written.
#[derive(Clone, Default, PartialEq)]
pub struct Extra {
    entries: Vec<(Arc<str>, Slot)>,
}

/// One value. Which variant holds a value is decided by the value alone, so two equal values
/// are always held alike and the derived equality is the values' equality.
#[derive(Clone, PartialEq)]
enum Slot {
    /// A string (every CSV cell).
    Text(CompactString),
    /// A small value of any other kind.
    Value(Box<Value>),
    /// A nested value of more than [`LARGE`] nodes, as YAML.
    Yaml(Box<str>),
    /// A value whose key YAML reads as a number or a boolean (`1: one`), with that key, so it
    /// is written back as it was; it is found by the key's text (`1`).
    Keyed(Box<(Value, Value)>),
}

impl Slot {
    fn new(value: Value) -> Slot {
        match value {
            Value::String(s) => Slot::Text(CompactString::from(s)),
            v @ (Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_))
                if nodes(&v, LARGE + 1) > LARGE =>
            {
                match serde_yaml_ng::to_string(&v) {
                    Ok(text) => Slot::Yaml(text.into_boxed_str()),
                    Err(_) => Slot::Value(Box::new(v)),
                }
            }
            v => Slot::Value(Box::new(v)),
        }
    }

    fn value(&self) -> Cow<'_, Value> {
        match self {
            Slot::Text(s) => Cow::Owned(Value::String(s.to_string())),
            Slot::Value(v) => Cow::Borrowed(v),
            // Written by serde_yaml_ng from a value it read; if it ever could not be read back,
            // the field is missing rather than wrong.
            Slot::Yaml(text) => Cow::Owned(serde_yaml_ng::from_str(text).unwrap_or(Value::Null)),
            Slot::Keyed(pair) => Cow::Borrowed(&pair.1),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Slot::Value(v) => *v,
            Slot::Keyed(pair) => pair.1,
            other => other.value().into_owned(),
        }
    }
}

fn shrink_value(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            m.values_mut().for_each(shrink_value);
            m.shrink_to_fit();
        }
        Value::Sequence(items) => {
            items.iter_mut().for_each(shrink_value);
            items.shrink_to_fit();
        }
        Value::String(s) => s.shrink_to_fit(),
        _ => {}
    }
}

/// Counts the nodes of `v`, stopping once past `stop`.
fn nodes(v: &Value, stop: usize) -> usize {
    let mut n = 1;
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                n += nodes(k, stop) + nodes(v, stop);
                if n > stop {
                    break;
                }
            }
        }
        Value::Sequence(items) => {
            for v in items {
                n += nodes(v, stop);
                if n > stop {
                    break;
                }
            }
        }
        Value::Tagged(t) => n += nodes(&t.value, stop),
        _ => {}
    }
    n
}

thread_local! {
    static KEYS: RefCell<HashSet<Arc<str>>> = RefCell::new(HashSet::new());
}

/// The key `k`, shared with the leads that have a field of that name.
fn intern(k: &str) -> Arc<str> {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(found) = keys.get(k) {
            return found.clone();
        }
        let key: Arc<str> = Arc::from(k);
        if keys.len() < INTERNED {
            keys.insert(key.clone());
        }
        key
    })
}

/// The shared key and slot for a mapping entry. A key that is not text (`1:`) is found by its
/// text and kept as written.
fn entry(key: Value, value: Value) -> (Arc<str>, Slot) {
    match key {
        Value::String(k) => (intern(&k), Slot::new(value)),
        other => (
            intern(&super::key_name(&other)),
            Slot::Keyed(Box::new((other, value))),
        ),
    }
}

impl Extra {
    pub fn new() -> Extra {
        Extra::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| &**k == key)
    }

    /// The value of field `key` (borrowed when it is held as a value).
    pub fn get(&self, key: &str) -> Option<Cow<'_, Value>> {
        self.position(key).map(|i| self.entries[i].1.value())
    }

    /// The text of field `key` when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match &self.entries[self.position(key)?].1 {
            Slot::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets field `key`, in its place if it was there, else last; gives back the old value.
    pub fn insert(&mut self, key: &str, value: Value) -> Option<Value> {
        let (k, slot) = entry(Value::String(key.to_string()), value);
        match self.position(key) {
            Some(i) => Some(
                std::mem::replace(&mut self.entries[i], (k, slot))
                    .1
                    .into_value(),
            ),
            None => {
                self.entries.push((k, slot));
                None
            }
        }
    }

    /// Sets many fields at once (an import row's columns): a later one of the same name wins,
    /// in the place of the first, as repeated [`Extra::insert`]s would do, without their
    /// quadratic search.
    pub fn extend<I: IntoIterator<Item = (Value, Value)>>(&mut self, pairs: I) {
        let mut index: Option<HashMap<Arc<str>, usize>> = None;
        for (key, value) in pairs {
            let (k, slot) = entry(key, value);
            if index.is_none() && self.entries.len() >= SCAN {
                index = Some(
                    self.entries
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect(),
                );
            }
            let at = match &index {
                Some(index) => index.get(&k).copied(),
                None => self.position(&k),
            };
            match at {
                Some(i) => self.entries[i] = (k, slot),
                None => {
                    if let Some(index) = index.as_mut() {
                        index.insert(k.clone(), self.entries.len());
                    }
                    self.entries.push((k, slot));
                }
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.entries.remove(i).1.into_value())
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    /// Every field by name, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Cow<'_, Value>)> {
        self.entries.iter().map(|(k, v)| (&**k, v.value()))
    }

    /// Every field as a mapping entry.
    pub fn to_mapping(&self) -> Mapping {
        self.entries
            .iter()
            .map(|(k, v)| match v {
                Slot::Keyed(pair) => (**pair).clone(),
                v => (Value::String(k.to_string()), v.value().into_owned()),
            })
            .collect()
    }

    /// The fields in which `after` differs from `self`, by name. Linear when the fields are in
    /// the same order (a stage that changes no unknown field), hashed otherwise: a contract
    /// check runs this on every lead after every stage.
    pub fn changes(&self, after: &Extra) -> Vec<(String, super::Change)> {
        use super::Change;
        let aligned = self.entries.len() == after.entries.len()
            && self
                .entries
                .iter()
                .zip(&after.entries)
                .all(|((a, _), (b, _))| a == b);
        if aligned {
            return self
                .entries
                .iter()
                .zip(&after.entries)
                .filter(|((_, a), (_, b))| a != b)
                .map(|((k, _), _)| (k.to_string(), Change::Changed))
                .collect();
        }
        let theirs: HashMap<&str, &Slot> = after.entries.iter().map(|(k, v)| (&**k, v)).collect();
        let ours: HashMap<&str, &Slot> = self.entries.iter().map(|(k, v)| (&**k, v)).collect();
        let mut out = Vec::new();
        for (k, v) in &self.entries {
            match theirs.get(&**k) {
                None => out.push((k.to_string(), Change::Removed)),
                Some(w) if *w != v => out.push((k.to_string(), Change::Changed)),
                Some(_) => {}
            }
        }
        for (k, _) in &after.entries {
            if !ours.contains_key(&**k) {
                out.push((k.to_string(), Change::Added));
            }
        }
        out
    }

    /// Gives back the room parsers leave in lists and nested values: a hundred thousand leads
    /// hold many small ones.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        for (_, slot) in &mut self.entries {
            if let Slot::Value(v) = slot {
                shrink_value(v);
            }
        }
    }
}

impl From<Mapping> for Extra {
    fn from(m: Mapping) -> Extra {
        let mut extra = Extra::new();
        extra.extend(m);
        extra.shrink_to_fit();
        extra
    }
}

impl FromIterator<(Value, Value)> for Extra {
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(pairs: I) -> Extra {
        let mut extra = Extra::new();
        extra.extend(pairs);
        extra.shrink_to_fit();
        extra
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (k, slot) in &self.entries {
            match slot {
                Slot::Text(t) => map.serialize_entry(&**k, t.as_str())?,
                Slot::Keyed(pair) => map.serialize_entry(&pair.0, &pair.1)?,
                other => map.serialize_entry(&**k, &*other.value())?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Extra, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Extra;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extra, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<Value, Value>()? {
                    pairs.push((k, v));
                }
                Ok(pairs.into_iter().collect())
            }
        }
        d.deserialize_map(Fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn an_entry_is_forty_bytes_and_short_text_needs_no_allocation() {
        assert_eq!(std::mem::size_of::<(Arc<str>, Slot)>(), 40);
        let s = CompactString::from("Wheelchair-accessible");
        assert!(!s.is_heap_allocated());
    }

    #[test]
    fn values_read_back_as_they_went_in_whatever_their_size() {
        let big: String = (0..200).map(|i| format!("tag{i}: v{i}\n")).collect();
        let mut e = Extra::new();
        for (k, v) in [
            ("plain", Value::String("x".into())),
            ("num", yaml("42")),
            ("small", yaml("{a: 1, b: [x, y]}")),
            ("big", yaml(&big)),
            ("tagged", yaml("!thing 3")),
        ] {
            e.insert(k, v.clone());
            assert_eq!(e.get(k).unwrap().into_owned(), v, "{k}");
        }
        assert!(matches!(e.entries[3].1, Slot::Yaml(_)));
        assert_eq!(e.get_str("plain"), Some("x"));
        assert_eq!(e.get_str("num"), None);
        let keys: Vec<&str> = e.keys().collect();
        assert_eq!(keys, ["plain", "num", "small", "big", "tagged"]);
    }

    #[test]
    fn a_round_trip_through_yaml_keeps_order_and_values() {
        let text = "zeta: 1\nalpha:\n  nested: true\ntext: 'true'\n'1': one\n";
        let e: Extra = serde_yaml_ng::from_str(text).unwrap();
        let back = serde_yaml_ng::to_string(&e).unwrap();
        assert_eq!(back, text);
        let again: Extra = serde_yaml_ng::from_str(&back).unwrap();
        assert_eq!(again, e);
        assert_eq!(e.to_mapping(), yaml(text).as_mapping().unwrap().clone());
    }

    #[test]
    fn a_repeated_name_keeps_the_first_place_and_the_last_value_in_a_wide_batch() {
        let mut e = Extra::new();
        let pairs = (0..100)
            .map(|i| (format!("c{i}"), i))
            .chain([("c5".to_string(), 500), ("c99".to_string(), 990)]);
        e.extend(pairs.map(|(k, v)| (Value::String(k), Value::from(v))));
        assert_eq!(e.len(), 100);
        assert_eq!(e.keys().nth(5), Some("c5"));
        assert_eq!(e.get("c5").unwrap().as_u64(), Some(500));
        assert_eq!(e.get("c99").unwrap().as_u64(), Some(990));
        assert_eq!(
            e.insert("c0", Value::Null).and_then(|v| v.as_u64()),
            Some(0)
        );
        assert_eq!(e.remove("c1").and_then(|v| v.as_u64()), Some(1));
        assert_eq!(e.keys().nth(1), Some("c2"));
    }

    #[test]
    fn changes_name_each_field_removed_changed_or_added_in_any_order() {
        use crate::lead::Change;
        let before: Extra = serde_yaml_ng::from_str("a: 1\nb: 2\nc: 3").unwrap();
        assert!(before.changes(&before.clone()).is_empty());
        let same_moved: Extra = serde_yaml_ng::from_str("c: 3\nb: 2\na: 1").unwrap();
        assert!(before.changes(&same_moved).is_empty());
        let edited: Extra = serde_yaml_ng::from_str("a: 1\nb: 5\nc: 3").unwrap();
        assert_eq!(
            before.changes(&edited),
            [("b".to_string(), Change::Changed)]
        );
        let other: Extra = serde_yaml_ng::from_str("d: 4\nb: 2\na: 0").unwrap();
        assert_eq!(
            before.changes(&other),
            [
                ("a".to_string(), Change::Changed),
                ("c".to_string(), Change::Removed),
                ("d".to_string(), Change::Added),
            ]
        );
    }

    #[test]
    fn keys_are_shared_between_leads() {
        let a: Extra = serde_yaml_ng::from_str("open_hours: x").unwrap();
        let b: Extra = serde_yaml_ng::from_str("open_hours: y").unwrap();
        assert!(Arc::ptr_eq(&a.entries[0].0, &b.entries[0].0));
    }
}

//! Lenient deserializers for hand-written lead files: `postal_code: 62701` and `phone: 2175550134`
//! are numbers to YAML but strings to us.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_yaml_ng::Value;
use std::collections::HashSet;
use std::fmt;

pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(OptString)
}

struct OptString;

impl<'de> Visitor<'de> for OptString {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(OptString)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
}

/// A number field that must be finite, read with its name: YAML reads `.nan` and `.inf` as
/// numbers, but no rating or coordinate is one (and NaN is not even equal to itself, so a stage
/// could not tell it was kept). The check is made in the visitor, inside the parser's call, so the
/// error has the field's line; the name is in the message for a lead read from a plain value.
pub struct Finite<T>(pub &'static str, pub std::marker::PhantomData<T>);

/// What [`Finite`] reads: a number or, for an optional field, nothing.
pub trait FiniteValue: Sized {
    fn finite<'de, D: Deserializer<'de>>(d: D, field: &'static str) -> Result<Self, D::Error>;
}

struct FiniteNumber(&'static str);

impl<'de> Visitor<'de> for FiniteNumber {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(E::custom(format_args!(
                "{} is {v}: it must be a finite number",
                self.0
            )))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

struct OptionalFinite(&'static str);

impl<'de> Visitor<'de> for OptionalFinite {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_f64(FiniteNumber(self.0)).map(Some)
    }
}

impl FiniteValue for f64 {
    fn finite<'de, D: Deserializer<'de>>(d: D, field: &'static str) -> Result<Self, D::Error> {
        d.deserialize_f64(FiniteNumber(field))
    }
}

impl FiniteValue for Option<f64> {
    fn finite<'de, D: Deserializer<'de>>(d: D, field: &'static str) -> Result<Self, D::Error> {
        d.deserialize_option(OptionalFinite(field))
    }
}

impl<'de, T: FiniteValue> de::DeserializeSeed<'de> for Finite<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::finite(d, self.0)
    }
}

/// A text field written by hand that YAML may read as a number (`postal_code: 62701`).
pub struct Lenient(pub Option<String>);

impl<'de> de::Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        opt_string(d).map(Lenient)
    }
}

/// A record of the lead schema read field by field: a known name into its typed field, any
/// other key into the record's unknown fields, as written. By hand rather than serde's
/// `flatten`, which buffers unknown fields in a form that cannot hold a YAML tag (`size: !big 3`
/// made the whole lead unreadable), lets a repeated name win silently, and turns a key written
/// `1:` into the text `'1'`. Here a tagged value is kept, a repeated name is an error naming it,
/// and a key YAML reads as a number or a boolean is written back as it was.
pub trait Record: Default {
    /// What the record is, for "expected …" messages.
    const EXPECTING: &'static str;
    /// The names of the typed fields.
    const FIELDS: &'static [&'static str];
    /// The typed fields a record must have.
    const REQUIRED: &'static [&'static str];
    /// Reads the value of typed field `field` (one of [`Record::FIELDS`]).
    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        field: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error>;
    /// Takes the unknown fields, in the order written, their names already checked unique.
    fn rest(&mut self, pairs: Vec<(Value, Value)>);
}

/// Reads a [`Record`] from any self-describing format (a lead file, a JSON line).
pub fn record<'de, D: Deserializer<'de>, T: Record>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(RecordVisitor(std::marker::PhantomData))
}

struct RecordVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Record> Visitor<'de> for RecordVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        let mut seen = 0u64;
        let mut rest: Vec<(Value, Value)> = Vec::new();
        let mut names: Option<HashSet<String>> = None;
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let name: std::borrow::Cow<str> = match &key {
                Value::String(s) => s.as_str().into(),
                other => super::key_name(other).into(),
            };
            if let Some(i) = T::FIELDS.iter().position(|f| *f == name) {
                if seen & (1 << i) != 0 {
                    return Err(refuse_value(&mut map, format!("duplicate field `{name}`")));
                }
                seen |= 1 << i;
                out.read(T::FIELDS[i], &mut map)?;
                continue;
            }
            // Repeated unknown names: a scan while there are few, a set past that (an import
            // row may carry thousands of columns).
            let repeated = match names.as_mut() {
                Some(set) => !set.insert(name.to_string()),
                None => {
                    let found = rest.iter().any(|(k, _)| key_is(k, &name));
                    if !found && rest.len() >= 16 {
                        let mut set: HashSet<String> =
                            rest.iter().map(|(k, _)| super::key_name(k)).collect();
                        set.insert(name.to_string());
                        names = Some(set);
                    }
                    found
                }
            };
            if repeated {
                return Err(refuse_value(&mut map, format!("duplicate field `{name}`")));
            }
            let value: Value = map.next_value()?;
            rest.push((key, value));
        }
        for (i, field) in T::FIELDS.iter().enumerate() {
            if T::REQUIRED.contains(field) && seen & (1 << i) == 0 {
                return Err(de::Error::missing_field(field));
            }
        }
        out.rest(rest);
        Ok(out)
    }
}

/// The error `message`, raised while the reader stands on the next value, so that it is placed
/// at that value's line (an error from the record's visitor is placed where the record starts).
fn refuse_value<'de, A: MapAccess<'de>>(map: &mut A, message: String) -> A::Error {
    struct Refuse(String);
    impl<'de> de::DeserializeSeed<'de> for Refuse {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            // `deserialize_any`: serde_yaml_ng places an error from its visitor at the value.
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Refuse {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(&self.0)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Err(E::custom(self.0))
        }
        fn visit_some<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
            Err(de::Error::custom(self.0))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(de::Error::custom(self.0))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(de::Error::custom(self.0))
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(de::Error::custom(self.0))
        }
    }
    match map.next_value_seed(Refuse(message.clone())) {
        Err(e) => e,
        Ok(()) => de::Error::custom(message),
    }
}

fn key_is(k: &Value, name: &str) -> bool {
    match k {
        Value::String(s) => s == name,
        other => super::key_name(other) == name,
    }
}

/// A field's name: text, or a number or a boolean kept as YAML read it (so `1:` is written back
/// `1:`). Anything else (a list or mapping as a key, `~:`, a tagged key) is refused: it could
/// not be written to the JSON files leadsite keeps, and no import makes one.
struct Key(Value);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl KeyVisitor {
    fn refuse<E: de::Error>(what: &str) -> E {
        E::custom(format_args!(
            "a field name must be text (or a number), found {what}"
        ))
    }
}

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key(Value::String(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key(Value::String(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Ok(Key(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Key(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Ok(Key(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        if v.is_finite() {
            Ok(Key(Value::from(v)))
        } else {
            Err(Self::refuse("a number that is not finite"))
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Err(Self::refuse("nothing (~)"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Key, E> {
        Err(Self::refuse("nothing (~)"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(Self::refuse("a list"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(Self::refuse("a mapping"))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(Self::refuse("a tagged value"))
    }
}

use super::{Address, Enrichment, GeoPoint, Lead, Quality, Source};

/// Each record type reads as a [`Record`].
macro_rules! read_as_record {
    ($($t:ty),*) => {$(
        impl<'de> de::Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                record(d)
            }
        }
    )*};
}
read_as_record!(Lead, Address, GeoPoint, Source, Enrichment, Quality);

/// A [`Record`] from its field names, each read as its type says or, marked `(lenient)`, as
/// text whatever the YAML wrote (`postal_code: 01234`, a phone as a number).
macro_rules! record {
    ($t:ty, $expecting:literal, required [$($req:ident),*], [$($field:ident $(($lenient:ident))?),* $(,)?]) => {
        impl Record for $t {
            const EXPECTING: &'static str = $expecting;
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
            const REQUIRED: &'static [&'static str] = &[$(stringify!($req)),*];

            fn read<'de, A: MapAccess<'de>>(
                &mut self,
                field: &'static str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match field {
                    $(stringify!($field) => self.$field = record!(@value map $field $($lenient)?),)*
                    other => return Err(de::Error::unknown_field(other, Self::FIELDS)),
                }
                Ok(())
            }

            fn rest(&mut self, pairs: Vec<(Value, Value)>) {
                self.extra = pairs.into_iter().collect();
            }
        }
    };
    (@value $map:ident $field:ident) => { $map.next_value()? };
    (@value $map:ident $field:ident lenient) => { $map.next_value::<Lenient>()?.0 };
    (@value $map:ident $field:ident finite) => {
        $map.next_value_seed(Finite(stringify!($field), std::marker::PhantomData))?
    };
}

record!(Lead, "a lead (a mapping of fields)", required [dedup_key, name], [
    dedup_key, name, category (lenient), address, location, phone (lenient), website, email,
    rating (finite), review_count, timezone, description, about, source, route, route_reason,
    enrichment, quality,
]);
record!(Address, "an address (a mapping of fields)", required [], [
    street (lenient), city (lenient), region (lenient), postal_code (lenient), country (lenient),
]);
record!(GeoPoint, "a location (lat and lng)", required [lat, lng], [lat (finite), lng (finite), accuracy]);
record!(
    Source,
    "a source (a mapping with a kind)",
    required[kind],
    [kind, id(lenient), fetched_at,]
);
record!(Enrichment, "the enrichment namespace (a mapping of fields)", required [], [
    email, phone, other_ids, industry_category, description, logo_url, image_url, sources,
    enriched_at,
]);
record!(Quality, "the quality namespace (a mapping of fields)", required [], [
    completeness_score, confidence_score, category_score, size_score, score, qualified, flags,
]);

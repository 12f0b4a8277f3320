//! OpenStreetMap importers: Overpass API JSON (`elements[].tags`) and the GeoJSON that
//! overpass-turbo exports (`features[].properties`, Point and Polygon geometries). Tags that are
//! not mapped to a field are kept under the lead's `osm` field.

use std::path::Path;

use serde_json::{Map, Value as Json};

use super::readers::json_error;
use super::table::{number, text, to_yaml};
use super::{Options, Row, RowData};
use crate::error::{InputError, Location};
use crate::lead::{Accuracy, Address, GeoPoint as Geo, Lead, Source};
use crate::pipeline::Record;

/// The tags whose value is the kind of place, in the order they are looked at.
const CATEGORY_TAGS: &[&str] = &[
    "shop",
    "craft",
    "amenity",
    "office",
    "healthcare",
    "tourism",
    "leisure",
];

/// Countries that write the house number after the street.
const NUMBER_AFTER_STREET: &[&str] = &[
    "DE", "AT", "CH", "NL", "BE", "IT", "ES", "PT", "PL", "CZ", "DK", "SE", "NO", "FI", "HU", "SK",
    "SI", "HR", "GR", "TR", "BR", "AR", "MX",
];

type Rows = (Vec<Row>, Vec<InputError>);

/// One OSM object as an export lays it out: its tags, geometry and `type/id`; `Ok(None)` for an
/// object that carries no business (a way's geometry-only nodes).
type Object = Result<Option<(Map<String, Json>, Option<Json>, String)>, InputError>;

/// How an OSM export lays out its objects: the list's key, the time of the data, and one object.
struct Shape {
    list: &'static str,
    /// What a file of this kind is, for the error when the list is missing.
    what: &'static str,
    timestamp: &'static str,
    object: fn(&Json, &Location) -> Object,
}

const OVERPASS: Shape = Shape {
    list: "elements",
    what: "an Overpass answer",
    timestamp: "/osm3s/timestamp_osm_base",
    object: |el, _| {
        let Some(tags) = el
            .get("tags")
            .and_then(Json::as_object)
            .filter(|t| !t.is_empty())
        else {
            return Ok(None); // geometry-only nodes of ways carry no business
        };
        let kind = format!(
            "{}/{}",
            el.get("type").and_then(Json::as_str).unwrap_or("node"),
            el.get("id").map(|v| v.to_string()).unwrap_or_default()
        );
        let point = match (el.get("lat"), el.get("lon")) {
            (Some(lat), Some(lon)) => Some(serde_json::json!({"type": "Point", "coordinates": [lon, lat]})),
            _ => el.get("center").map(|c| serde_json::json!({"type": "Polygon-center", "coordinates": [c.get("lon"), c.get("lat")]})),
        };
        Ok(Some((tags.clone(), point, kind)))
    },
};

const GEOJSON: Shape = Shape {
    list: "features",
    what: "a GeoJSON FeatureCollection",
    timestamp: "/timestamp",
    object: |f, at| {
        let Some(props) = f.get("properties").and_then(Json::as_object) else {
            return Err(InputError::new(
                at.clone(),
                "this feature has no properties; it is skipped",
            )
            .with_field("properties"));
        };
        let kind = props
            .get("@id")
            .or(f.get("id"))
            .and_then(text)
            .unwrap_or_default();
        let mut tags = props.clone();
        tags.shift_remove("@id");
        Ok(Some((tags, f.get("geometry").cloned(), kind)))
    },
};

pub(super) fn read_overpass(input: &str, path: &Path, opts: &Options) -> Result<Rows, InputError> {
    read(input, path, &OVERPASS, opts)
}

pub(super) fn read_geojson(input: &str, path: &Path, opts: &Options) -> Result<Rows, InputError> {
    read(input, path, &GEOJSON, opts)
}

/// Reads the export as a stream: one object of the list at a time is parsed, mapped to a lead
/// (its text tags, the point its geometry stands for) and dropped, so memory follows the leads,
/// not the file (a 24 MB GeoJSON of array properties took 2.5 GB as one JSON tree).
fn read(input: &str, path: &Path, shape: &Shape, opts: &Options) -> Result<Rows, InputError> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Root<'a> {
        shape: &'a Shape,
        opts: &'a Options,
        path: &'a Path,
        rows: &'a mut Vec<Row>,
        errors: &'a mut Vec<InputError>,
        fetched_at: &'a mut Option<chrono::DateTime<chrono::Utc>>,
        seen_list: &'a mut bool,
    }
    struct Items<'a, 'b>(&'b mut Root<'a>);

    impl<'de> Visitor<'de> for Items<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let root = self.0;
            let mut i = 0;
            while let Some(item) = seq.next_element::<Json>()? {
                let location = Location::at_item(root.path, i);
                i += 1;
                match (root.shape.object)(&item, &location) {
                    Ok(Some((mut tags, geometry, kind))) => {
                        tags.retain(|_, v| !(v.is_array() || v.is_object()));
                        let geometry = geometry.as_ref().and_then(point);
                        let rec = to_record(&tags, geometry.as_ref(), &kind, root.opts);
                        root.rows.push(Row {
                            location,
                            data: RowData::Mapped(Box::new(rec)),
                            fetched_at: None,
                        })
                    }
                    Ok(None) => {}
                    Err(e) => root.errors.push(e),
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for &mut Root<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            // The timestamp's pointer: its first key, and the rest inside that value.
            let mut pointer = self.shape.timestamp.trim_start_matches('/').splitn(2, '/');
            let (top, rest) = (pointer.next().unwrap_or(""), pointer.next());
            while let Some(key) = map.next_key::<String>()? {
                if key == self.shape.list {
                    *self.seen_list = true;
                    map.next_value_seed(Items(self))?;
                } else if key == top {
                    let v: Json = map.next_value()?;
                    let v = match rest {
                        Some(r) => v.pointer(&format!("/{r}")).cloned(),
                        None => Some(v),
                    };
                    *self.fetched_at = v
                        .as_ref()
                        .and_then(Json::as_str)
                        .and_then(|t| t.parse().ok());
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    let (mut rows, mut errors, mut fetched_at, mut seen_list) =
        (Vec::new(), Vec::new(), None, false);
    let mut root = Root {
        shape,
        opts,
        path,
        rows: &mut rows,
        errors: &mut errors,
        fetched_at: &mut fetched_at,
        seen_list: &mut seen_list,
    };
    let mut de = serde_json::Deserializer::from_str(input);
    de.deserialize_map(&mut root)
        .and_then(|()| de.end())
        .map_err(|e| json_error(path, &e))?;
    if !seen_list {
        return Err(InputError::new(
            Location::file(path),
            format!(
                "{} has a `{}` list; this file has none",
                shape.what, shape.list
            ),
        )
        .with_field(shape.list));
    }
    for row in &mut rows {
        row.fetched_at = fetched_at;
    }
    Ok((rows, errors))
}

/// The point a geometry stands for, as a small geometry of its own (a Point, or the centre of a
/// polygon), so that a row does not keep a polygon's rings.
fn point(geometry: &Json) -> Option<Json> {
    let geo = location(geometry)?;
    let kind = match geo.accuracy {
        Some(Accuracy::Rooftop) => "Point",
        _ => "Polygon-center",
    };
    Some(serde_json::json!({"type": kind, "coordinates": [geo.lng, geo.lat]}))
}

/// Maps one OSM object to a raw lead.
pub(super) fn to_record(
    tags: &Map<String, Json>,
    geometry: Option<&Json>,
    id: &str,
    opts: &Options,
) -> Record {
    let tag = |k: &str| tags.get(k).and_then(text);
    let first_of = |keys: &[&str]| keys.iter().find_map(|k| tag(k));
    let mut lead = Lead {
        name: tag("name").unwrap_or_default(),
        ..Default::default()
    };
    let country = tag("addr:country");
    let street = match (
        tag("addr:street").or(tag("addr:place")),
        tag("addr:housenumber"),
    ) {
        (Some(s), Some(n))
            if country.as_deref().is_some_and(|c| {
                NUMBER_AFTER_STREET.contains(&c.to_ascii_uppercase().as_str())
            }) =>
        {
            Some(format!("{s} {n}"))
        }
        (Some(s), Some(n)) => Some(format!("{n} {s}")),
        (s, _) => s,
    };
    let address = Address {
        street,
        city: tag("addr:city"),
        region: first_of(&["addr:state", "addr:province"]),
        postal_code: tag("addr:postcode"),
        country,
        extra: Default::default(),
    };
    if !address.is_empty() {
        lead.address = Some(address);
    }
    lead.phone =
        first_of(&["phone", "contact:phone", "contact:mobile", "mobile"]).map(|p| first_value(&p));
    lead.website = first_of(&["website", "contact:website", "url"]).map(|p| first_value(&p));
    lead.email = first_of(&["email", "contact:email"]).map(|e| e.replace(';', ","));
    lead.category = CATEGORY_TAGS
        .iter()
        .find_map(|k| tag(k))
        .map(|v| humanize(&v));
    lead.description = tag("description");
    lead.location = geometry.and_then(location);
    lead.source = Some(Source {
        kind: "osm".into(),
        id: (!id.is_empty()).then(|| id.to_string()),
        ..Default::default()
    });

    let mapped = [
        "name",
        "addr:street",
        "addr:place",
        "addr:housenumber",
        "addr:city",
        "addr:state",
        "addr:province",
        "addr:postcode",
        "addr:country",
        "phone",
        "contact:phone",
        "contact:mobile",
        "mobile",
        "website",
        "contact:website",
        "url",
        "email",
        "contact:email",
        "description",
    ];
    let mut rest = serde_yaml_ng::Mapping::new();
    for (k, v) in tags {
        if !mapped.contains(&k.as_str()) && !opts.drop_columns.iter().any(|d| d == k) {
            rest.insert(k.clone().into(), to_yaml(v.clone()));
        }
    }
    // A phone or website tag with several values (`a;b`) keeps them all.
    for (key, field) in [
        ("other_phones", &["phone", "contact:phone"][..]),
        ("other_websites", &["website", "contact:website"][..]),
    ] {
        let extra: Vec<String> = field
            .iter()
            .filter_map(|k| tag(k))
            .flat_map(|v| {
                v.split(';')
                    .skip(1)
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        if !extra.is_empty() {
            lead.extra.insert(key, to_yaml(Json::from(extra)));
        }
    }
    if !rest.is_empty() {
        lead.extra
            .insert("osm", serde_yaml_ng::Value::Mapping(rest));
    }
    Record::new(0, Location::default(), lead)
}

fn first_value(v: &str) -> String {
    v.split(';').next().unwrap_or(v).trim().to_string()
}

/// `car_repair` → `Car repair`.
fn humanize(v: &str) -> String {
    let s = v.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// A point for a Point, the mean of the outer ring for a Polygon (or MultiPolygon's first).
fn location(geometry: &Json) -> Option<Geo> {
    let coords = geometry.get("coordinates")?;
    let (lng, lat, accuracy) = match geometry.get("type")?.as_str()? {
        "Point" => (
            number(coords.get(0)?)?,
            number(coords.get(1)?)?,
            Accuracy::Rooftop,
        ),
        "Polygon-center" => (
            number(coords.get(0)?)?,
            number(coords.get(1)?)?,
            Accuracy::Centroid,
        ),
        "Polygon" => centroid(coords.get(0)?)?,
        "MultiPolygon" => centroid(coords.get(0)?.get(0)?)?,
        _ => return None,
    };
    Some(Geo {
        lat,
        lng,
        accuracy: Some(accuracy),
        extra: Default::default(),
    })
}

fn centroid(ring: &Json) -> Option<(f64, f64, Accuracy)> {
    let mut points: Vec<(f64, f64)> = ring
        .as_array()?
        .iter()
        .filter_map(|p| Some((number(p.get(0)?)?, number(p.get(1)?)?)))
        .collect();
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f64;
    let (x, y) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0, y + p.1));
    Some((x / n, y / n, Accuracy::Centroid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_to_fields_and_the_rest_is_kept() {
        let tags: Map<String, Json> = serde_json::from_str(
            r#"{"name":"Shezan","addr:housenumber":"25","addr:street":"Union Place","addr:city":"Edinburgh","addr:postcode":"EH1 3NQ",
                "contact:phone":"+44 131 557 5098;+44 7700 900123","amenity":"restaurant","cuisine":"indian","website":"https://www.shezanedinburgh.com/"}"#,
        )
        .unwrap();
        let geo = serde_json::json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]]});
        let rec = to_record(&tags, Some(&geo), "way/1", &Options::default());
        let l = rec.lead;
        assert_eq!(
            l.address.as_ref().unwrap().street.as_deref(),
            Some("25 Union Place")
        );
        assert_eq!(l.phone.as_deref(), Some("+44 131 557 5098"));
        assert_eq!(l.category.as_deref(), Some("Restaurant"));
        let g = l.location.unwrap();
        assert_eq!(
            (g.lat, g.lng, g.accuracy),
            (1.0, 1.0, Some(Accuracy::Centroid))
        );
        let osm = l.extra.get("osm").unwrap();
        let osm = osm.as_mapping().unwrap();
        assert!(
            osm.contains_key("cuisine") && osm.contains_key("amenity") && !osm.contains_key("name")
        );
        assert!(l.extra.contains_key("other_phones"));
        assert_eq!(l.source.unwrap().id.as_deref(), Some("way/1"));
    }

    #[test]
    fn a_features_id_leaves_its_other_tags_in_order() {
        let text = r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,
            "properties":{"@id":"node/7","name":"C","amenity":"cafe","t0":"a","t1":"b","t2":"c"}}]}"#;
        let (rows, errors) =
            read_geojson(text, Path::new("x.geojson"), &Options::default()).unwrap();
        assert!(errors.is_empty());
        let RowData::Mapped(rec) = &rows[0].data else {
            panic!("not mapped")
        };
        let osm = rec.lead.extra.get("osm").unwrap();
        let keys: Vec<&str> = osm
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["amenity", "t0", "t1", "t2"]);
        assert_eq!(
            rec.lead.source.as_ref().unwrap().id.as_deref(),
            Some("node/7")
        );
    }

    #[test]
    fn german_streets_put_the_number_last() {
        let tags: Map<String, Json> = serde_json::from_str(r#"{"name":"K","addr:street":"Hauptstraße","addr:housenumber":"5","addr:country":"DE","shop":"car_repair"}"#).unwrap();
        let l = to_record(&tags, None, "node/2", &Options::default()).lead;
        assert_eq!(l.address.unwrap().street.as_deref(), Some("Hauptstraße 5"));
        assert_eq!(l.category.as_deref(), Some("Car repair"));
    }
}

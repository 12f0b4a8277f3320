//! The `taxonomy` provider: the source's category ("Auto repair shop", OSM `shop=car_repair`) →
//! an industry key (`auto-repair`), which picks the lead's theme and content. A built-in table
//! covers common trades; `enrichment.taxonomy.industries` in config adds to it and is tried first.

use std::collections::BTreeMap;

/// `(industry key, words that mark it)`, most specific first: the first industry one of whose
/// words is in the category wins. Words are matched on the category in lower case with `_`, `-`,
/// `=` and `/` read as spaces, at word starts ("bar*" matches "wine bar", not "barber*").
const BUILT_IN: &[(&str, &[&str])] = &[
    (
        "auto-repair",
        &[
            "auto repair",
            "car repair",
            "auto body",
            "body shop",
            "mechanic*",
            "garage*",
            "tyre",
            "tyres",
            "tire shop",
            "tires",
            "oil change",
            "auto service",
            "car service",
            "brake*",
            "transmission*",
            "muffler",
            "autowerkstatt*",
            "kfz*",
            "garage automobile",
            "taller mecánico",
            "συνεργείο*",
        ],
    ),
    (
        "real-estate",
        &[
            "real estate",
            "realtor*",
            "estate agent",
            "estate agents",
            "property management",
            "letting agent",
            "immobilien*",
            "agence immobilière",
            "inmobiliaria*",
            "κτηματομεσιτ*",
            "μεσιτικ*",
        ],
    ),
    (
        "plumbing",
        &[
            "plumb*",
            "drain*",
            "sanitär",
            "plombier*",
            "fontaner*",
            "υδραυλικ*",
        ],
    ),
    (
        "hvac",
        &[
            "hvac",
            "heating",
            "air conditioning",
            "furnace",
            "heat pump",
        ],
    ),
    (
        "electrician",
        &["electrician*", "electrical contractor", "elektriker*"],
    ),
    ("roofing", &["roof*", "dachdecker*"]),
    (
        "beauty",
        &["beauty", "nail*", "spa", "cosmetics", "massage*", "tattoo"],
    ),
    (
        "hair-salon",
        &["hair", "barber*", "hairdresser*", "friseur*", "salon*"],
    ),
    (
        "dentist",
        &[
            "dentist*",
            "dental",
            "orthodont*",
            "zahnarzt*",
            "dentiste",
            "οδοντίατρ*",
            "οδοντιατρ*",
        ],
    ),
    (
        "medical",
        &[
            "doctor*",
            "physician*",
            "clinic*",
            "medical",
            "physiotherap*",
            "chiropract*",
            "optician*",
            "pharmacy",
            "arzt*",
        ],
    ),
    (
        "veterinary",
        &["veterinar*", "vet", "animal hospital", "tierarzt*"],
    ),
    (
        "bakery",
        &[
            "bakery",
            "bakeries",
            "baker*",
            "patisserie*",
            "bäckerei*",
            "pastry",
            "boulangerie*",
            "panadería*",
            "αρτοποιείο*",
            "φούρνος",
        ],
    ),
    (
        "cafe",
        &[
            "cafe*",
            "café*",
            "coffee",
            "tea house",
            "ice cream",
            "cafetería*",
            "καφετέρια*",
            "καφέ",
        ],
    ),
    (
        "restaurant",
        &[
            "restaurant*",
            "bistro*",
            "diner*",
            "pizzeria",
            "pizza",
            "fast food",
            "food court",
            "steakhouse*",
            "sushi",
            "takeaway",
            "brasserie*",
            "pub",
            "pubs",
            "bar",
            "bars",
            "biergarten",
            "grill*",
            "sandwich*",
            "deli",
            "delicatessen",
            "burger*",
            "taco*",
            "taqueria*",
            "kebab*",
            "gyro*",
            "noodle*",
            "ramen",
            "bbq",
            "barbecue",
            "buffet",
            "food truck",
            "chicken wings",
            "seafood",
            "brunch",
            "gaststätte*",
            "trattoria*",
            "taverna*",
            "restaurante*",
            "εστιατόριο*",
            "ταβέρνα*",
            "ψητοπωλείο*",
        ],
    ),
    (
        "fitness",
        &[
            "gym*",
            "fitness",
            "yoga",
            "pilates",
            "martial arts",
            "sports centre",
        ],
    ),
    (
        "legal",
        &[
            "lawyer*",
            "attorney*",
            "law firm",
            "solicitor",
            "notary",
            "rechtsanwalt*",
        ],
    ),
    (
        "accounting",
        &[
            "accountant*",
            "accounting",
            "tax advisor",
            "bookkeep*",
            "steuerberater*",
        ],
    ),
    (
        "landscaping",
        &["landscap*", "gardener*", "garden", "lawn", "tree service"],
    ),
    (
        "cleaning",
        &[
            "cleaning",
            "cleaner",
            "janitorial",
            "laundry",
            "dry cleaning",
        ],
    ),
    (
        "construction",
        &[
            "contractor*",
            "construction",
            "builder*",
            "carpenter*",
            "painter*",
            "handyman",
            "remodel*",
        ],
    ),
    ("florist", &["florist*", "flower*"]),
    (
        "retail",
        &["shop", "store*", "boutique", "supermarket", "convenience"],
    ),
];

/// The industry table in use: config's additions, then the built-in one.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    /// Industry → its words, each with the text it is looked for as: ` word ` for a whole word,
    /// ` stem` for `stem*`.
    table: Vec<(String, Vec<(String, String)>)>,
}

/// An industry and the word that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub industry: String,
    pub word: String,
}

impl Taxonomy {
    pub fn new(extra: &BTreeMap<String, Vec<String>>) -> Taxonomy {
        let entry = |w: &str| {
            let folded = fold(w);
            let padded = match w.trim().strip_suffix('*') {
                Some(stem) => format!(" {}", fold(stem)),
                None => format!(" {folded} "),
            };
            (folded, padded)
        };
        let mut table: Vec<(String, Vec<(String, String)>)> = extra
            .iter()
            .map(|(k, words)| (k.clone(), words.iter().map(|w| entry(w)).collect()))
            .collect();
        table.extend(
            BUILT_IN
                .iter()
                .map(|(k, words)| (k.to_string(), words.iter().map(|w| entry(w)).collect())),
        );
        Taxonomy { table }
    }

    /// The industry of a category, if any word of the table is in it.
    pub fn classify(&self, category: &str) -> Option<Match> {
        let text = format!(" {} ", fold(category));
        self.table.iter().find_map(|(industry, words)| {
            words
                .iter()
                .find(|(_, padded)| text.contains(padded.as_str()))
                .map(|(word, _)| Match {
                    industry: industry.clone(),
                    word: word.clone(),
                })
        })
    }

    #[cfg(test)]
    /// Every industry key the table knows.
    pub fn industries(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.table.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Lower case, separators as spaces, runs of spaces as one.
fn fold(s: &str) -> String {
    crate::text::collapse_ws(
        &s.to_lowercase()
            .replace(['_', '-', '=', '/', ',', ';', '(', ')', '&'], " "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(t: &Taxonomy, c: &str) -> Option<String> {
        t.classify(c).map(|m| m.industry)
    }

    #[test]
    fn maps_and_osm_categories_find_their_industry() {
        let t = Taxonomy::new(&BTreeMap::new());
        for (category, industry) in [
            ("Auto repair shop", "auto-repair"),
            ("shop=car_repair", "auto-repair"),
            ("Tire shop", "auto-repair"),
            ("Real estate agency", "real-estate"),
            ("office=estate_agent", "real-estate"),
            ("Italian restaurant", "restaurant"),
            ("amenity=restaurant", "restaurant"),
            ("Wine bar", "restaurant"),
            ("Barber shop", "hair-salon"),
            ("Plumber", "plumbing"),
            ("craft=plumber", "plumbing"),
            ("Dentist", "dentist"),
            ("Bakery", "bakery"),
            ("amenity=cafe", "cafe"),
        ] {
            assert_eq!(
                classify(&t, category).as_deref(),
                Some(industry),
                "{category}"
            );
        }
        assert_eq!(classify(&t, "Space agency"), None);
    }

    #[test]
    fn config_words_come_first() {
        let extra = BTreeMap::from([("auto-repair".to_string(), vec!["Car Wash".to_string()])]);
        let t = Taxonomy::new(&extra);
        assert_eq!(
            t.classify("Self-service car wash"),
            Some(Match {
                industry: "auto-repair".into(),
                word: "car wash".into()
            })
        );
        assert!(t.industries().contains(&"auto-repair"));
    }
}

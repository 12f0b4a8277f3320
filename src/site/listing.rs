//! The pages that list landing pages: the index (`/`, then `/page/2/` …), a hub per industry
//! (`/industry/<key>/`) and per city (`/city/<city-region>/`), each paginated, so that no page
//! grows with the number of leads. Hubs are made for industries and cities with at least
//! [`HUB_MIN`] pages: a hub of one is no use to a visitor.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lead::Lead;
use crate::text::{clean_text, slug};

/// The first path segments list pages use; no lead page may take them.
pub const RESERVED: &[&str] = &["page", "industry", "city"];

/// Fewer pages than this make no hub.
pub const HUB_MIN: usize = 2;

/// One landing page in a list.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub category: String,
    pub city: Option<String>,
    /// What and where, as a list shows it: "Auto Repair, Dayton" (one lookup for a template, where
    /// category and city are three).
    pub place: String,
    pub url: String,
}

/// A link to a hub, with how many pages it lists.
#[derive(Debug, Clone, Serialize)]
pub struct HubLink {
    pub title: String,
    pub url: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageNumber {
    pub number: usize,
    pub url: String,
    pub current: bool,
    /// Pages between the one before and this one are not linked ("…").
    pub gap_before: bool,
}

/// Page numbers linked on each side of the current page (besides the first and the last): a
/// list of 2,000 pages links 7 of them, not 2,000 from each of its 2,000 pages (which took
/// seconds and megabytes a page at 100,000 leads). Every page is still reached by prev/next.
const PAGER_SPAN: usize = 2;

/// The page numbers page `i` of `n` links: the first, the last and [`PAGER_SPAN`] around `i`.
fn pager_pages(i: usize, n: usize, path: impl Fn(usize) -> String) -> Vec<PageNumber> {
    let mut shown = Vec::new();
    let mut last = None;
    for j in 0..n {
        if j == 0 || j + 1 == n || j.abs_diff(i) <= PAGER_SPAN {
            shown.push(PageNumber {
                number: j + 1,
                url: path(j),
                current: j == i,
                gap_before: last.is_some_and(|l: usize| j > l + 1),
            });
            last = Some(j);
        }
    }
    shown
}

/// Links between the pages of one list.
#[derive(Debug, Clone, Serialize)]
pub struct Pager {
    pub prev: Option<String>,
    pub next: Option<String>,
    pub pages: Vec<PageNumber>,
}

/// One list page to write.
#[derive(Debug, Clone, Serialize)]
pub struct ListPage {
    /// `index.html`, `page/2/index.html`, `industry/restaurant/index.html` …
    #[serde(skip)]
    pub rel: String,
    /// Its path from the site's root, `/industry/restaurant/`.
    pub path: String,
    pub heading: String,
    pub intro: String,
    /// "Businesses", or "Businesses, page 2 of 3".
    pub entries_title: String,
    pub entries: Vec<Entry>,
    pub pager: Option<Pager>,
    /// The root page lists the hubs.
    pub industries: Vec<HubLink>,
    pub cities: Vec<HubLink>,
    #[serde(skip)]
    pub is_root: bool,
}

/// A lead's place in the lists: its entry, industry (key, title) and city hub (key, title).
pub struct Listed<'a> {
    pub lead: &'a Lead,
    pub industry: (String, String),
}

/// The list pages of a site: `root` is the site's root path, `per_page` the entries a page.
pub fn pages(
    listed: &[Listed],
    root: &str,
    per_page: usize,
    site_title: &str,
    strings: &super::theme::Strings,
) -> Vec<ListPage> {
    let t = |k: &str, fallback: &str| super::theme::text(strings, k, fallback);
    let per_page = per_page.max(1);
    let entry = |l: &Lead| {
        let category = clean_text(l.category.as_deref().unwrap_or(""));
        let city = l.city().map(clean_text).filter(|c| !c.is_empty());
        let place = match (&city, category.is_empty()) {
            (Some(city), false) => format!("{category}, {city}"),
            (Some(city), true) => city.clone(),
            (None, _) => category.clone(),
        };
        Entry {
            name: clean_text(&l.name),
            category,
            city,
            place,
            url: format!("{root}{}/", l.dedup_key),
        }
    };
    let mut all: Vec<(Entry, &Listed)> = listed.iter().map(|x| (entry(x.lead), x)).collect();
    all.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.url.cmp(&b.0.url)));

    let mut by_industry: BTreeMap<String, (String, Vec<Entry>)> = BTreeMap::new();
    let mut by_city: BTreeMap<String, (String, Vec<Entry>)> = BTreeMap::new();
    for (e, x) in &all {
        let (key, title) = &x.industry;
        by_industry
            .entry(key.clone())
            .or_insert_with(|| (title.clone(), Vec::new()))
            .1
            .push(e.clone());
        if let Some((key, title)) = city_hub(x.lead) {
            by_city
                .entry(key)
                .or_insert_with(|| (title, Vec::new()))
                .1
                .push(e.clone());
        }
    }
    let hubs = |map: &BTreeMap<String, (String, Vec<Entry>)>, kind: &str| -> Vec<HubLink> {
        map.iter()
            .filter(|(_, (_, v))| v.len() >= HUB_MIN)
            .map(|(k, (title, v))| HubLink {
                title: title.clone(),
                url: format!("{root}{kind}/{k}/"),
                count: v.len(),
            })
            .collect()
    };
    let industries = hubs(&by_industry, "industry");
    let mut cities = hubs(&by_city, "city");
    cities.sort_by(|a, b| a.title.cmp(&b.title).then(a.url.cmp(&b.url)));

    let mut out = Vec::new();
    let entries: Vec<Entry> = all.into_iter().map(|(e, _)| e).collect();
    let intro = t(
        "index_intro",
        "{count} local businesses, each with a page of its own.",
    )
    .replace("{count}", &entries.len().to_string());
    let texts = Texts {
        page_of: t("page_of", "{title} (page {page} of {pages})"),
        entries: t("businesses", "Businesses"),
        entries_page: t("businesses_page", "Businesses, page {page} of {pages}"),
    };
    out.extend(paginate(
        "", site_title, &intro, entries, root, per_page, &texts,
    ));
    if let Some(first) = out.first_mut() {
        first.is_root = true;
        first.industries = industries;
        first.cities = cities;
    }
    for (kind, map) in [("industry", by_industry), ("city", by_city)] {
        for (key, (title, list)) in map {
            if list.len() < HUB_MIN {
                continue;
            }
            let heading = match kind {
                "industry" => title.clone(),
                _ => t("in_place", "Businesses in {place}").replace("{place}", &title),
            };
            let intro =
                t("hub_intro", "{count} pages.").replace("{count}", &list.len().to_string());
            out.extend(paginate(
                &format!("{kind}/{key}/"),
                &heading,
                &intro,
                list,
                root,
                per_page,
                &texts,
            ));
        }
    }
    out
}

/// A city hub's key (`springfield-il`) and title (`Springfield, IL`).
fn city_hub(l: &Lead) -> Option<(String, String)> {
    let city = clean_text(l.city()?);
    let region = l
        .address
        .as_ref()
        .and_then(|a| a.region.as_deref())
        .map(clean_text)
        .filter(|r| !r.is_empty());
    let title = match &region {
        Some(r) => format!("{city}, {r}"),
        None => city.clone(),
    };
    // A folder name: cut like a lead's key, and never a Windows device name (`nul`, `con`).
    let key = crate::pipeline::normalize::join_key(&[slug(&title)]);
    let key = if crate::lead::is_reserved_name(&key) {
        format!("{key}-city")
    } else {
        key
    };
    (!key.is_empty()).then_some((key, title))
}

/// The words of list pages, in the site's language.
struct Texts {
    page_of: String,
    entries: String,
    entries_page: String,
}

/// One list cut into pages: `base/` then `base/page/2/` ….
fn paginate(
    base: &str,
    heading: &str,
    intro: &str,
    entries: Vec<Entry>,
    root: &str,
    per_page: usize,
    texts: &Texts,
) -> Vec<ListPage> {
    let chunks: Vec<Vec<Entry>> = if entries.is_empty() {
        vec![Vec::new()]
    } else {
        entries.chunks(per_page).map(<[Entry]>::to_vec).collect()
    };
    let n = chunks.len();
    let path = |i: usize| {
        if i == 0 {
            format!("{root}{base}")
        } else {
            format!("{root}{base}page/{}/", i + 1)
        }
    };
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, list)| {
            let rel_dir = if i == 0 {
                base.to_string()
            } else {
                format!("{base}page/{}/", i + 1)
            };
            ListPage {
                rel: format!("{rel_dir}index.html"),
                path: path(i),
                heading: if i == 0 {
                    heading.to_string()
                } else {
                    texts
                        .page_of
                        .replace("{title}", heading)
                        .replace("{page}", &(i + 1).to_string())
                        .replace("{pages}", &n.to_string())
                },
                intro: intro.to_string(),
                entries_title: if n > 1 {
                    texts
                        .entries_page
                        .replace("{page}", &(i + 1).to_string())
                        .replace("{pages}", &n.to_string())
                } else {
                    texts.entries.clone()
                },
                entries: list,
                pager: (n > 1).then(|| Pager {
                    prev: (i > 0).then(|| path(i - 1)),
                    next: (i + 1 < n).then(|| path(i + 1)),
                    pages: pager_pages(i, n, path),
                }),
                industries: Vec::new(),
                cities: Vec::new(),
                is_root: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(key: &str, city: &str) -> Lead {
        serde_yaml_ng::from_str(&format!(
            "dedup_key: {key}\nname: {key}\naddress: {{city: {city}, region: IL}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn lists_are_paginated_and_hubs_need_two_pages() {
        let leads: Vec<Lead> = (0..5)
            .map(|i| {
                lead(
                    &format!("l{i}"),
                    if i < 4 { "Springfield" } else { "Peoria" },
                )
            })
            .collect();
        let listed: Vec<Listed> = leads
            .iter()
            .map(|l| Listed {
                lead: l,
                industry: ("restaurant".into(), "Restaurants".into()),
            })
            .collect();
        let pages = pages(&listed, "/", 2, "Site", &Default::default());
        let rels: Vec<&str> = pages.iter().map(|p| p.rel.as_str()).collect();
        assert_eq!(
            rels,
            [
                "index.html",
                "page/2/index.html",
                "page/3/index.html",
                "industry/restaurant/index.html",
                "industry/restaurant/page/2/index.html",
                "industry/restaurant/page/3/index.html",
                "city/springfield-il/index.html",
                "city/springfield-il/page/2/index.html",
            ]
        );
        let root = &pages[0];
        assert_eq!(root.cities.len(), 1, "Peoria has one page: no hub");
        assert_eq!(root.industries[0].count, 5);
        let pager = pages[1].pager.as_ref().unwrap();
        assert_eq!(pager.prev.as_deref(), Some("/"));
        assert_eq!(pager.next.as_deref(), Some("/page/3/"));
        assert!(pager.pages[1].current);
    }

    #[test]
    fn a_long_list_links_the_first_last_and_nearby_pages_and_marks_the_gaps() {
        let shown = |i: usize, n: usize| -> Vec<String> {
            pager_pages(i, n, |j| format!("/p{j}/"))
                .iter()
                .map(|p| {
                    let gap = if p.gap_before { "…" } else { "" };
                    let cur = if p.current { "*" } else { "" };
                    format!("{gap}{}{cur}", p.number)
                })
                .collect()
        };
        assert_eq!(
            shown(49, 2000),
            ["1", "…48", "49", "50*", "51", "52", "…2000"]
        );
        assert_eq!(shown(0, 2000), ["1*", "2", "3", "…2000"]);
        assert_eq!(shown(1999, 2000), ["1", "…1998", "1999", "2000*"]);
        assert_eq!(shown(3, 7), ["1", "2", "3", "4*", "5", "6", "7"]);
        assert_eq!(shown(0, 2), ["1*", "2"]);
    }

    #[test]
    fn an_entry_says_what_and_where_without_a_stray_comma() {
        let mut leads = [
            lead("a", "Springfield"),
            lead("b", "Peoria"),
            lead("c", "x"),
        ];
        leads[0].category = Some("Auto Repair".into());
        leads[2].category = Some("Bakery".into());
        leads[2].address = None;
        let listed: Vec<Listed> = leads
            .iter()
            .map(|l| Listed {
                lead: l,
                industry: ("other".into(), "Other".into()),
            })
            .collect();
        let pages = pages(&listed, "/", 10, "Site", &Default::default());
        let places: Vec<&str> = pages[0].entries.iter().map(|e| e.place.as_str()).collect();
        assert_eq!(places, ["Auto Repair, Springfield", "Peoria", "Bakery"]);
    }
}

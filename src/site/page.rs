//! One landing page: the lead as a page may show it (`presentable`), the business as templates
//! see it (`Business`), and the render.

use super::*;

/// A lead's own `about` Markdown shown on its page at most (longer is cut, with a warning).
pub(super) const MAX_ABOUT: usize = 64 * 1024;

/// Bytes of a description kept (meta tags use the first 160 characters).
pub(super) const MAX_DESCRIPTION: usize = 2 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Social {
    pub label: String,
    pub url: String,
}

/// The business as templates see it (`business.*`): every value checked and ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct Business {
    pub name: String,
    pub tagline: String,
    pub category: String,
    pub city: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub phone_display: Option<String>,
    pub phone_href: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub website_label: Option<String>,
    /// Only in JSON-LD: a page loads nothing from other hosts.
    pub logo: Option<String>,
    /// The hero picture's absolute URL (self-hosted), for JSON-LD.
    pub image: Option<String>,
    pub description: Option<String>,
    pub address_lines: Vec<String>,
    pub map_url: Option<String>,
    pub rating: Option<f64>,
    pub review_count: Option<u64>,
    pub social: Vec<Social>,
    pub schema_type: String,
    /// Whether the data comes from OpenStreetMap (its tags or its export): the page then credits
    /// OpenStreetMap's contributors (ODbL).
    pub osm_data: bool,
}

/// What the business is, in a title: its category as the source said it, else its industry.
pub(super) fn what(lead: &Lead, content: &Content) -> String {
    lead.category
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| content.industry(industry_of(lead)).key.replace('-', " "))
}

pub(super) fn industry_of(lead: &Lead) -> Option<&str> {
    lead.enrichment.as_deref()?.industry_category.as_deref()
}

/// Whether [`presentable`] would change anything (most leads come through ingest clean).
pub(super) fn needs_cleaning(l: &Lead) -> bool {
    use crate::lead::value::is_plus_code;
    use crate::text::{is_clean_lines, is_clean_text};
    let text = |s: &str| !is_clean_text(s);
    let lines = |s: &Option<String>| s.as_deref().is_some_and(|s| !is_clean_lines(s));
    // A description over its bound is cut: `about` has its own, applied where it is shown.
    let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() > MAX_DESCRIPTION);
    text(&l.name)
        || l.category.as_deref().is_some_and(text)
        || l.timezone.as_deref().is_some_and(text)
        || lines(&l.description)
        || long(&l.description)
        || lines(&l.about)
        || l.enrichment
            .as_deref()
            .is_some_and(|e| lines(&e.description) || long(&e.description))
        || l.address.as_ref().is_some_and(|a| {
            [&a.street, &a.city, &a.region, &a.postal_code, &a.country]
                .iter()
                .any(|f| f.as_deref().is_some_and(|s| s.is_empty() || text(s)))
                || a.street.as_deref().is_some_and(is_plus_code)
        })
}

/// An address's neighbourhood as the data names it (`borough`), unless its street or city
/// already say it.
fn neighbourhood(a: &crate::lead::Address) -> Option<String> {
    let borough = crate::text::clean_text(a.extra.get_str("borough")?);
    let said = |f: &Option<String>| {
        f.as_deref()
            .is_some_and(|s| s.to_lowercase().contains(&borough.to_lowercase()))
    };
    (!borough.is_empty() && !said(&a.street) && !said(&a.city)).then_some(borough)
}

/// The lead as a page may show it: lead files are written by hand too, so what ingest's normalize
/// does is done again here: no control or bidi characters, no Plus Code as the street.
pub(super) fn presentable(lead: &Lead) -> Lead {
    use crate::lead::value::plus_code_street;
    use crate::text::{clean_lines, clean_text, cut};
    let mut l = lead.clone();
    l.name = clean_text(&l.name);
    for f in [&mut l.category, &mut l.timezone] {
        *f = f.as_deref().map(clean_text).filter(|s| !s.is_empty());
    }
    for f in [&mut l.description, &mut l.about] {
        *f = f
            .as_deref()
            .map(clean_lines)
            .filter(|s| !s.trim().is_empty());
    }
    // A description is a sentence or two (it goes into meta tags and JSON-LD): a long one, from
    // a lead file or a data file, is cut, never copied whole into every page.
    let short = |d: String| {
        if d.len() <= MAX_DESCRIPTION {
            return d;
        }
        let c = cut(&d, MAX_DESCRIPTION);
        let c = c.rfind(char::is_whitespace).map_or(c, |i| &c[..i]);
        format!("{}…", c.trim_end())
    };
    l.description = l.description.map(short);
    if let Some(a) = l.address.as_mut() {
        for f in [
            &mut a.street,
            &mut a.city,
            &mut a.region,
            &mut a.postal_code,
            &mut a.country,
        ] {
            *f = f.as_deref().map(clean_text).filter(|s| !s.is_empty());
        }
        if let Some(street) = a.street.as_deref().and_then(plus_code_street) {
            a.street = street;
        }
    }
    if let Some(e) = l.enrichment.as_mut() {
        e.description = e.description.as_deref().map(clean_lines).map(short);
    }
    l
}

/// A path from the site's root (`/img/x.jpg`) as an absolute URL.
pub(super) fn absolute(site: &SiteCtx, path: &str) -> String {
    format!(
        "{}{}",
        site.base_url,
        path.strip_prefix(site.root.as_str()).unwrap_or(path)
    )
}

/// OpenGraph's `og:locale`: `language_TERRITORY` (`en_US`, `el_CY`); a language without a region
/// gets the region it is most spoken in.
pub(super) fn og_locale(language: &str) -> String {
    let tag = language.replace('_', "-");
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or("en").to_ascii_lowercase();
    let region = parts
        .find(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| {
            match lang.as_str() {
                "en" => "US",
                "el" => "GR",
                "ca" | "eu" | "gl" => "ES",
                "vi" => "VN",
                "sr" => "RS",
                "sl" => "SI",
                "et" => "EE",
                "fa" => "IR",
                "ur" => "PK",
                "ms" => "MY",
                "sq" => "AL",
                "bs" => "BA",
                "ga" => "IE",
                "cy" => "GB",
                "ka" => "GE",
                "hy" => "AM",
                "kk" => "KZ",
                "be" => "BY",
                "lb" => "LU",
                "sw" => "KE",
                "bn" => "BD",
                "ta" | "te" | "mr" | "gu" | "kn" | "ml" | "pa" => "IN",
                "fil" | "tl" => "PH",
                "da" => "DK",
                "sv" => "SE",
                "cs" => "CZ",
                "ja" => "JP",
                "zh" => "CN",
                "ko" => "KR",
                "uk" => "UA",
                "he" => "IL",
                "ar" => "SA",
                "hi" => "IN",
                "nb" | "nn" | "no" => "NO",
                other => return other.to_ascii_uppercase(),
            }
            .to_string()
        });
    format!("{lang}_{region}")
}

/// Whether people read the time as "8 AM" where the site's language is spoken.
pub(super) fn clock12(language: &str) -> bool {
    matches!(
        language::Lang::of(language).tag.as_str(),
        "en" | "en-us" | "en-ca" | "en-au" | "en-nz" | "en-ph" | "en-in" | "es-us" | "es-mx"
    )
}

/// One lead's page: where it is, what was done, and what of its data could not be shown.
pub(super) struct Rendered {
    pub(super) key: String,
    pub(super) theme: String,
    pub(super) digest: String,
    /// None: not rendered, its inputs are as last time.
    pub(super) outcome: Option<WriteOutcome>,
    pub(super) warnings: Vec<String>,
}

/// Renders one lead's page when its inputs changed.
pub(super) fn render_lead(
    s: &Shared,
    lead: &Lead,
    title: &str,
    old_digest: Option<&String>,
    contexts: &mut BTreeMap<String, tera::Context>,
) -> Result<Rendered> {
    let industry_key = industry_of(lead);
    let theme = s
        .themes
        .for_industry(industry_key, &s.config.site.themes)
        .to_string();
    // Read every build, rendered or not, so that the warnings stay until the data is fixed.
    let t = &s.strings[&theme];
    let facts = Facts::of(
        lead,
        &facts::Locale {
            strings: t,
            clock12: s.clock12,
            english: s.english,
        },
    );
    let (imgs, img_warnings) = s.images.for_lead(lead);
    let mut warnings: Vec<String> = facts
        .warnings
        .iter()
        .chain(&img_warnings)
        .map(|w| format!("{}: {w}", lead.label()))
        .collect();
    let about_len = lead.about.as_deref().map_or(0, str::len);
    if about_len > MAX_ABOUT {
        warnings.push(format!(
            "{}: about is {} KB; only its first {} KB are on the page",
            lead.label(),
            about_len / 1024,
            MAX_ABOUT / 1024
        ));
    }
    // The page's inputs, streamed into the digest (a lead is not made into a text for it).
    let mut inputs = fsutil::Fingerprint::default();
    for part in [&s.digest, &theme, title, &s.themes.digest(&theme)] {
        inputs.add(part.as_bytes());
        inputs.add(b"|");
    }
    let digest = match serde_json::to_writer(&mut inputs, &imgs)
        .and_then(|()| serde_json::to_writer(&mut inputs, lead))
    {
        Ok(()) => inputs.hex(),
        // Never the digest of an earlier build: the page is rendered again.
        Err(_) => String::new(),
    };
    let path = s.site_dir.join(&lead.dedup_key).join("index.html");
    if !digest.is_empty() && old_digest == Some(&digest) && path.is_file() {
        return Ok(Rendered {
            key: lead.dedup_key.clone(),
            theme,
            digest,
            outcome: None,
            warnings,
        });
    }
    let cleaned;
    let lead = if needs_cleaning(lead) {
        cleaned = presentable(lead);
        &cleaned
    } else {
        lead
    };
    let industry = s
        .content
        .industry_in(industry_key, &s.config.site.language)
        .for_lead(&facts);
    let mut facts = facts;
    let shown: Vec<&str> = industry
        .services
        .iter()
        .filter_map(|b| b.when.as_deref())
        .chain(industry.faq.iter().filter_map(|q| q.when.as_deref()))
        .collect();
    facts.hide(&shown);
    let mut business = business(lead, &industry);
    if let Some(l) = &imgs.logo {
        business.logo = Some(absolute(&s.site, &l.largest));
    }
    business.image = imgs.hero.as_ref().map(|h| absolute(&s.site, &h.largest));
    let canonical = format!("{}{}/", s.site.base_url, lead.dedup_key);
    let seo = Seo {
        title: title.to_string(),
        description: seo::description(
            lead,
            &industry.tagline,
            &what(lead, s.content),
            &super::theme::text(t, "in_city", super::IN_CITY),
        ),
        canonical: canonical.clone(),
        og_type: "business.business",
        locale: og_locale(&s.site.language),
        image: imgs
            .hero
            .as_ref()
            .or(imgs.logo.as_ref())
            .map(|i| absolute(&s.site, &i.largest)),
        large_image: imgs.hero.is_some(),
        json_ld: Some(seo::json_ld(lead, &business, &facts, &canonical)),
        noindex: false,
        alternates: alternates(&s.languages, &format!("{}/", lead.dedup_key)),
    };
    let about_html = match lead.about.as_deref().filter(|a| !a.trim().is_empty()) {
        Some(md) => content::markdown(crate::text::cut(md, MAX_ABOUT), false),
        None => industry.body_html.clone(),
    };
    let cta_base = s
        .config
        .site
        .cta_url
        .clone()
        .unwrap_or_else(|| s.site.base_url.clone());
    let cta = Cta {
        url: seo::cta_url(&cta_base, &lead.dedup_key, &industry.key),
        // The default words are the theme's, in the site's language; the config's own stay.
        text: s
            .config
            .site
            .cta_text
            .clone()
            .unwrap_or_else(|| theme::text(t, "claim_cta", "Claim this page")),
    };
    // What every page of the theme shares was made into a context once; a worker copies it
    // once and reuses it for each page of the theme it renders. Every page sets the same keys
    // below, so nothing of the page before stays in it.
    let ctx = contexts
        .entry(theme.clone())
        .or_insert_with(|| s.contexts[&theme].clone());
    ctx.insert("seo", &seo);
    ctx.insert("business", &business);
    ctx.insert("industry", &industry);
    ctx.insert("facts", &facts);
    ctx.insert("images", &imgs);
    if s.themes.names_lead {
        ctx.insert("lead", lead);
    }
    ctx.insert("about_html", &about_html);
    ctx.insert("cta", &cta);
    ctx.insert("page_url", &format!("{}{}/", s.site.root, lead.dedup_key));
    let html = render(s, &theme, "landing.html", ctx, Some(lead.label()))?;
    let outcome = fsutil::write_if_changed_via(&path, html.as_bytes(), Some(&s.staging))?;
    Ok(Rendered {
        key: lead.dedup_key.clone(),
        theme,
        digest,
        outcome: Some(outcome),
        warnings,
    })
}

pub(super) fn stylesheets(s: &Shared, theme: &str) -> Vec<String> {
    let mut chain = s.themes.chain(theme);
    chain.reverse();
    chain
        .iter()
        .flat_map(|t| s.assets.get(&t.key).cloned().unwrap_or_default())
        .collect()
}

pub(super) fn render(
    s: &Shared,
    theme: &str,
    kind: &str,
    ctx: &tera::Context,
    lead: Option<&str>,
) -> Result<String> {
    let name = s.themes.template(theme, kind).ok_or_else(|| {
        Error::from(InputError::new(
            Location::file(s.themes.themes[theme].origin.join("templates")),
            format!("theme {theme} (and the themes it extends) has no {kind}"),
        ))
    })?;
    s.themes
        .tera
        .render(&name, ctx)
        .map_err(|e| Error::from(theme::template_error(&s.themes.themes, &e, lead)))
}

pub(super) fn business(lead: &Lead, industry: &content::Industry) -> Business {
    let schema_type = schema_type(industry_of(lead));
    let e = lead.enrichment.as_deref();
    let phone = lead
        .phone
        .clone()
        .or_else(|| e.and_then(|e| e.phone.clone()))
        .filter(|p| p.starts_with('+') && p[1..].chars().all(|c| c.is_ascii_digit()));
    let phone_display = phone.as_deref().map(national_format);
    let email = lead.contact_email().and_then(canonical_email);
    let website = lead.website.as_deref().and_then(canonical_url);
    let website_label = website.as_deref().and_then(|w| {
        url::Url::parse(w)
            .ok()?
            .host_str()
            .map(|h| h.trim_start_matches("www.").to_string())
    });
    let http = |u: &str| canonical_url(u).filter(|c| c.starts_with("http"));
    let mut social: Vec<Social> = e
        .map(|e| {
            e.other_ids
                .iter()
                .filter_map(|(k, v)| {
                    let key = k.as_str()?;
                    let url = http(v.as_str()?)?;
                    let label = match key {
                        "x" => "X".to_string(),
                        "linkedin" => "LinkedIn".to_string(),
                        "youtube" => "YouTube".to_string(),
                        "tiktok" => "TikTok".to_string(),
                        other => {
                            let mut c = other.chars();
                            c.next()
                                .map(|f| f.to_uppercase().chain(c).collect())
                                .unwrap_or_default()
                        }
                    };
                    Some(Social { label, url })
                })
                .collect()
        })
        .unwrap_or_default();
    social.sort_by(|a, b| a.label.cmp(&b.label));
    let mut address_lines = Vec::new();
    if let Some(a) = &lead.address {
        if let Some(st) = a.street.as_deref().filter(|s| !s.is_empty()) {
            address_lines.push(st.to_string());
        }
        // The neighbourhood (google-maps-scraper's `borough`: "Latsi" in Poli Crysochous), when
        // the street or city do not already say it.
        if let Some(borough) = neighbourhood(a) {
            address_lines.push(borough);
        }
        let region_zip = [a.region.as_deref(), a.postal_code.as_deref()]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let line = [a.city.as_deref(), Some(region_zip.as_str())]
            .iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if !line.is_empty() {
            address_lines.push(line);
        }
    }
    let map_url = lead.location.as_ref().map(|l| {
        format!(
            "https://www.openstreetmap.org/?mlat={:.5}&mlon={:.5}#map=17/{:.5}/{:.5}",
            l.lat, l.lng, l.lat, l.lng
        )
    });
    Business {
        name: lead.name.trim().to_string(),
        tagline: industry.tagline.clone(),
        category: lead.category.clone().unwrap_or_default(),
        city: lead.city().map(String::from),
        phone_href: phone.as_ref().map(|p| format!("tel:{p}")),
        phone,
        phone_display,
        email,
        website,
        website_label,
        logo: e.and_then(|e| e.logo_url.as_deref()).and_then(http),
        image: None,
        description: lead
            .description
            .clone()
            .or_else(|| e.and_then(|e| e.description.clone())),
        address_lines,
        map_url,
        rating: lead.rating,
        review_count: lead.review_count,
        social,
        schema_type: schema_type.to_string(),
        osm_data: lead.source.as_ref().is_some_and(|s| s.kind == "osm")
            || lead.extra.get("osm").as_deref().is_some_and(|v| match v {
                serde_yaml_ng::Value::Null | serde_yaml_ng::Value::Bool(false) => false,
                serde_yaml_ng::Value::String(s) => !s.is_empty(),
                serde_yaml_ng::Value::Sequence(s) => !s.is_empty(),
                serde_yaml_ng::Value::Mapping(m) => !m.is_empty(),
                _ => true,
            }),
    }
}

/// The schema.org type of an industry (the lead's own, not the copy it fell back to).
pub fn schema_type(industry: Option<&str>) -> &'static str {
    match industry.unwrap_or("") {
        "auto-repair" => "AutoRepair",
        "real-estate" => "RealEstateAgent",
        "restaurant" => "Restaurant",
        "plumbing" => "Plumber",
        "hvac" => "HVACBusiness",
        "electrician" => "Electrician",
        "roofing" => "RoofingContractor",
        "beauty" => "BeautySalon",
        "hair-salon" => "HairSalon",
        "dentist" => "Dentist",
        "medical" => "MedicalBusiness",
        "veterinary" => "VeterinaryCare",
        "bakery" => "Bakery",
        "cafe" => "CafeOrCoffeeShop",
        "fitness" => "ExerciseGym",
        "legal" => "LegalService",
        "accounting" => "AccountingService",
        "construction" => "GeneralContractor",
        "florist" => "Florist",
        "retail" => "Store",
        _ => "LocalBusiness",
    }
}

/// How people write a number at home: `(217) 555-0134` for North America (formatted directly:
/// parsing is the dearest part of a page), the library's national format elsewhere.
pub(super) fn national_format(e164: &str) -> String {
    if let Some(d) = e164.strip_prefix("+1").filter(|d| d.len() == 10) {
        return format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]);
    }
    phonenumber::parse(None, e164)
        .map(|n| n.format().mode(phonenumber::Mode::National).to_string())
        .unwrap_or_else(|_| e164.to_string())
}

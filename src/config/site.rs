//! `site:` — what LandingPageGenerator builds: base URL, title, language(s), themes, images.

use super::*;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Site {
    /// Absolute URL the site is served from; canonical URLs start with it.
    pub base_url: String,
    pub title: String,
    /// The pages' `lang` (BCP 47).
    pub language: String,
    /// Industry key → theme, where the theme's own `industries` list is not what you want.
    pub themes: std::collections::BTreeMap<String, String>,
    /// Where a page's call to action leads (UTM tags are added); default: `base_url`.
    pub cta_url: Option<String>,
    /// The call to action's words; default: the theme's, in the site's language.
    pub cta_text: Option<String>,
    /// Pages listed on one page of the index and of each hub.
    pub per_page: usize,
    /// Build the site in each of these languages, into `site/<language>/` (`/el/…`, `/en/…`),
    /// with hreflang alternates and a sitemap per language. Empty: one language,
    /// `site.language`, at the root.
    pub languages: Vec<String>,
    pub images: SiteImages,
}

/// `site.images`: the pictures the business published, downloaded, resized and self-hosted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteImages {
    /// Download and use the `og:image` and logo of the lead's own site and OSM `image`/`logo`.
    pub enabled: bool,
    /// Also use the Google-Maps photo (`thumbnail`). Off: those photos belong to the people
    /// who uploaded them, not to the business, and Google's terms do not license them for reuse.
    pub maps_photos: bool,
    /// Bytes downloaded of one image at most; a larger image is not used.
    pub max_bytes: u64,
}

impl Default for SiteImages {
    fn default() -> Self {
        SiteImages {
            enabled: true,
            maps_photos: false,
            max_bytes: 5 * 1024 * 1024,
        }
    }
}

impl Default for Site {
    fn default() -> Self {
        Site {
            base_url: "http://127.0.0.1:1111/".into(),
            title: "Local businesses".into(),
            language: "en".into(),
            themes: Default::default(),
            cta_url: None,
            cta_text: None,
            per_page: 100,
            languages: Vec::new(),
            images: SiteImages::default(),
        }
    }
}

//! The checks serde cannot make: every semantic problem of a config, each naming its key, all
//! reported in one run.

use super::*;

impl Config {
    /// Semantic checks serde cannot make. Each problem names its key.
    pub(super) fn problems(&self, path: &Path) -> Vec<InputError> {
        let mut out = Vec::new();
        let mut bad = |field: String, msg: String| {
            out.push(InputError::new(Location::file(path), msg).with_field(field))
        };
        match url::Url::parse(&self.site.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => bad(
                "site.base_url".into(),
                format!("{:?} is not an absolute http(s) URL", self.site.base_url),
            ),
        }
        let tag_ok = {
            let mut parts = self.site.language.split(['-', '_']);
            let lang = parts.next().unwrap_or("");
            (2..=3).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphabetic())
                && parts.all(|p| {
                    (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
                })
        };
        if !tag_ok {
            bad(
                "site.language".into(),
                format!(
                    "{:?} is not a language tag such as en, de or el-CY",
                    self.site.language
                ),
            );
        }
        if self.site.per_page == 0 {
            bad(
                "site.per_page".into(),
                "must be at least 1 (pages listed on one index page)".into(),
            );
        }
        if crate::lead::value::country_code(&self.ingest.default_region).is_none() {
            bad(
                "ingest.default_region".into(),
                format!(
                    "{:?} is not an ISO 3166-1 alpha-2 region such as US or GB",
                    self.ingest.default_region
                ),
            );
        }
        self.phase4_problems(&mut bad);
        self.outreach_problems(&mut bad);
        self.deploy_problems(&mut bad);
        if let Some(cta) = &self.site.cta_url {
            if !url::Url::parse(cta)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "mailto"))
            {
                bad(
                    "site.cta_url".into(),
                    format!("{cta:?} is not an absolute http(s) or mailto: URL"),
                );
            }
        }
        for (industry, theme) in &self.site.themes {
            if !crate::lead::is_valid_key(theme) {
                bad(
                    format!("site.themes.{industry}"),
                    format!("{theme:?} is not a theme name"),
                );
            }
        }
        for (i, rule) in self.routing.rules.iter().enumerate() {
            let at = format!("routing.rules[{i}]");
            if rule.route.is_none() {
                bad(
                    format!("{at}.route"),
                    "missing: every rule says its route (TARGET, NURTURE or REJECT)".into(),
                );
            }
            for (key, fields) in [("present", &rule.present), ("missing", &rule.missing)] {
                for (j, f) in fields.iter().enumerate() {
                    if !is_field_name(f) {
                        bad(
                            format!("{at}.{key}[{j}]"),
                            format!("{f:?} is not a field name"),
                        );
                    }
                }
            }
            for (j, c) in rule.country.iter().enumerate() {
                if crate::lead::value::country_code(c).is_none() {
                    bad(
                        format!("{at}.country[{j}]"),
                        format!("{c:?} is not a country code"),
                    );
                }
            }
        }
        self.overlap_problems(&mut bad);
        for (field, p) in self.configured_paths() {
            let escapes = p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if escapes {
                bad(
                    field,
                    format!(
                        "{} leaves the project: use a path inside the project folder (relative, without '..')",
                        p.display()
                    ),
                );
            }
        }
        out
    }

    /// The public site shares no folder with what is private: nothing under `site/` but pages
    /// (a work folder there would publish the leads' emails), the site not the project itself
    /// nor a folder of leads, themes or content, and those not inside each other.
    fn overlap_problems(&self, bad: &mut impl FnMut(String, String)) {
        let norm = |p: &Path| -> Vec<String> {
            p.components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        };
        let site = norm(&self.paths.site);
        if site.is_empty() {
            bad(
                "paths.site".into(),
                "the project folder itself: everything in it (leads, config, .leadsite) would be published; use a folder such as site".into(),
            );
            return;
        }
        let folders = [
            ("paths.leads", norm(&self.paths.leads)),
            ("paths.work", norm(&self.paths.work)),
            ("paths.themes", norm(&self.paths.themes)),
            ("paths.content", norm(&self.paths.content)),
        ];
        let within = |a: &[String], b: &[String]| a.len() >= b.len() && a[..b.len()] == *b;
        for (field, p) in self.configured_paths() {
            let p = norm(&p);
            if field != "paths.site" && !p.is_empty() && within(&p, &site) {
                bad(
                    field,
                    format!(
                        "inside paths.site ({}): it would be published with the site",
                        self.paths.site.display()
                    ),
                );
            }
        }
        for (field, p) in &folders {
            if within(&site, p) {
                bad(
                    "paths.site".into(),
                    format!("inside {field}: the site would mix with what is private"),
                );
            }
        }
        for (i, (fa, a)) in folders.iter().enumerate() {
            for (fb, b) in &folders[i + 1..] {
                if within(a, b) || within(b, a) {
                    bad(
                        (*fa).to_string(),
                        format!("{fa} and {fb} share a folder: each needs its own"),
                    );
                }
            }
        }
    }

    fn deploy_problems(&self, bad: &mut impl FnMut(String, String)) {
        let d = &self.deploy;
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in d.targets.iter().enumerate() {
            let at = format!("deploy.targets[{i}]");
            if !crate::lead::is_valid_key(&t.name) {
                bad(
                    format!("{at}.name"),
                    format!(
                        "{:?} is not a target name (lower-case letters, digits, '-')",
                        t.name
                    ),
                );
            } else if !names.insert(t.name.as_str()) {
                bad(
                    format!("{at}.name"),
                    format!("{:?}: a second target of that name", t.name),
                );
            }
            // S3's names (3-63 lower-case letters, digits, dots, hyphens), and the upper-case
            // letters and underscores of older buckets and other stores.
            let b = &t.bucket;
            if !(3..=255).contains(&b.len())
                || !b
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                bad(
                    format!("{at}.bucket"),
                    format!("{b:?} is not a bucket name (letters, digits, '.', '-', '_')"),
                );
            }
            // Keys are paths of a URL: a `.` or empty segment is not where it seems.
            let segments: Vec<&str> = t.prefix.trim_end_matches('/').split('/').collect();
            if !t.prefix.is_empty()
                && (t.prefix.starts_with('/')
                    || segments
                        .iter()
                        .any(|p| p.is_empty() || *p == "." || *p == ".."))
            {
                bad(format!("{at}.prefix"), format!("{:?}: a key prefix such as www/ or sites/pages (no leading '/', no '.', '..' or empty segments)", t.prefix));
            }
            if let Some(e) = &t.endpoint {
                if !url::Url::parse(e)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                {
                    bad(
                        format!("{at}.endpoint"),
                        format!("{e:?} is not an absolute http(s) URL"),
                    );
                }
            }
        }
        for (i, rule) in d.headers.iter().enumerate() {
            if let Err(e) = globset::Glob::new(&rule.pattern) {
                bad(
                    format!("deploy.headers[{i}].pattern"),
                    format!("{:?} is not a pattern: {e}", rule.pattern),
                );
            }
        }
        if d.jobs == 0 {
            bad("deploy.jobs".into(), "must be at least 1".into());
        }
    }

    fn outreach_problems(&self, bad: &mut impl FnMut(String, String)) {
        let o = &self.outreach;
        if super::graph_version(&o.whatsapp.version).is_none() {
            bad(
                "outreach.whatsapp.version".into(),
                format!(
                    "{:?} is not a Graph API version such as {}",
                    o.whatsapp.version,
                    super::GRAPH_API_VERSION
                ),
            );
        }
        if let Some(base) = &o.whatsapp.base_url {
            // Credentials go there: https, or plain http to this machine only (tests, a local
            // proxy).
            let ok = url::Url::parse(base).is_ok_and(|u| match u.scheme() {
                "https" => u.host().is_some(),
                "http" => {
                    matches!(u.host(), Some(url::Host::Domain("localhost")))
                        || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                }
                _ => false,
            });
            if !ok {
                bad(
                    "outreach.whatsapp.base_url".into(),
                    format!("{base:?}: the provider's token is sent there, so it must be an https URL (plain http only to 127.0.0.1)"),
                );
            }
        }
        if o.window.timezone.parse::<chrono_tz::Tz>().is_err() {
            bad(
                "outreach.window.timezone".into(),
                format!(
                    "{:?} is not an IANA time zone such as America/Chicago",
                    o.window.timezone
                ),
            );
        }
        if o.window.start_hour >= o.window.end_hour || o.window.end_hour > 24 {
            bad(
                "outreach.window".into(),
                "start_hour must be before end_hour (0..24)".into(),
            );
        }
        for (i, d) in o.window.days.iter().enumerate() {
            if crate::config::weekday(d).is_none() {
                bad(
                    format!("outreach.window.days[{i}]"),
                    format!("{d:?} is not mon, tue, wed, thu, fri, sat or sun"),
                );
            }
        }
        if !crate::lead::is_valid_key(&o.sequence) {
            bad(
                "outreach.sequence".into(),
                "a sequence is a folder name: lower-case letters, digits, '-'".into(),
            );
        }
        if o.enabled {
            if crate::lead::value::canonical_email(&o.sender_email).is_none() {
                bad(
                    "outreach.sender_email".into(),
                    "needed to send: a valid address".into(),
                );
            }
            if o.postal_address.trim().is_empty() {
                bad(
                    "outreach.postal_address".into(),
                    "needed to send: every message carries the sender's postal address".into(),
                );
            }
        }
        if let Some(u) = &o.listen.public_url {
            // RFC 8058: a one-click unsubscribe URI must be https.
            let ok = url::Url::parse(u).is_ok_and(|u| {
                u.scheme() == "https" && u.query().is_none() && u.fragment().is_none()
            });
            if !ok {
                bad(
                    "outreach.listen.public_url".into(),
                    format!("{u:?} is not an https URL without ?query or #fragment (RFC 8058 one-click unsubscribe needs https; /u/TOKEN is added to it)"),
                );
            }
        }
        for (key, v) in [
            ("unsubscribe_url", &o.unsubscribe_url),
            ("one_click_url", &o.one_click_url),
        ] {
            if let Some(u) = v {
                let ok = url::Url::parse(&u.replace("{lead}", "x")).is_ok_and(|u| {
                    u.scheme() == "https" || (key == "unsubscribe_url" && u.scheme() == "mailto")
                });
                if !ok {
                    bad(
                        format!("outreach.{key}"),
                        format!(
                            "{u:?} is not an https{} URL",
                            if key == "unsubscribe_url" {
                                " or mailto:"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
        }
    }

    fn phase4_problems(&self, bad: &mut impl FnMut(String, String)) {
        let w = &self.enrichment.website;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.enrichment.cache_ttl_days) {
            bad(
                "enrichment.cache_ttl_days".into(),
                "must be more than 0".into(),
            );
        }
        if !positive(w.timeout_secs) {
            bad(
                "enrichment.website.timeout_secs".into(),
                "must be more than 0".into(),
            );
        }
        for (key, value, max) in [
            ("concurrency", w.concurrency, 1024),
            ("max_pages", w.max_pages, 100),
        ] {
            if value == 0 || value > max {
                bad(
                    format!("enrichment.website.{key}"),
                    format!("{value} is not between 1 and {max}"),
                );
            }
        }
        if w.user_agent.trim().is_empty() {
            bad(
                "enrichment.website.user_agent".into(),
                "must say who is asking".into(),
            );
        }
        for industry in self.enrichment.taxonomy.industries.keys() {
            if !crate::lead::is_valid_key(industry) {
                bad(
                    format!("enrichment.taxonomy.industries.{industry}"),
                    "an industry key is lower-case letters, digits and '-'".into(),
                );
            }
        }
        let s = &self.scoring;
        for (j, f) in s.required_fields.iter().enumerate() {
            if !is_field_name(f) {
                bad(
                    format!("scoring.required_fields[{j}]"),
                    format!("{f:?} is not a field name"),
                );
            }
        }
        let weights = [
            ("completeness", s.weights.completeness),
            ("confidence", s.weights.confidence),
            ("category", s.weights.category),
            ("size", s.weights.size),
        ];
        for (name, v) in weights {
            if !(v.is_finite() && v >= 0.0) {
                bad(
                    format!("scoring.weights.{name}"),
                    format!("{v} is not a weight (0 or more)"),
                );
            }
        }
        if weights.iter().map(|(_, v)| v).sum::<f64>() <= 0.0 {
            bad(
                "scoring.weights".into(),
                "at least one weight must be more than 0".into(),
            );
        }
        if !(0.0..=1.0).contains(&s.threshold) {
            bad(
                "scoring.threshold".into(),
                format!("{} is not between 0 and 1", s.threshold),
            );
        }
        if !positive(s.reviews_half) {
            bad("scoring.reviews_half".into(), "must be more than 0".into());
        }
    }
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "_-:".contains(c)))
}

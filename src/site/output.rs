//! The files of the site besides the landing pages: the themes' fingerprinted assets, redirect
//! pages of leads that left, the index and list pages, sitemap, robots.txt, 404 and content
//! pages; and how files reach `site/` (staged in `<work>/tmp/`, never written through a link).

use super::*;

/// Sitemaps hold at most this many URLs (sitemaps.org); more go into several files and an index.
pub(super) const SITEMAP_MAX: usize = 50_000;

/// Where files of the site are written before they are renamed into `site/`: `<work>/tmp/`, so
/// that a killed build leaves no temp file in the folder that is uploaded as it is.
pub fn staging_dir(config: &Config) -> PathBuf {
    config.work_dir().join("tmp")
}

/// Nothing is written through a symbolic link: `site/` itself may not be one, and links inside it
/// (which a build never makes) are removed — the links, never what they point at. Temp files a
/// killed build left (when `site/` is on another device than the staging folder) go in the same
/// walk, which runs over the top folders in parallel (10,000 pages are 10,000 folders).
pub(super) fn unlink_site(site: &Path) -> Result<()> {
    if !site_is_folder(site)? {
        return Ok(());
    }
    fsutil::list_dir(site)?
        .par_iter()
        .try_for_each(|top| tidy(top, usize::MAX))
}

/// [`unlink_site`] of only what is directly in `site` (a site of several languages: each
/// language's folder is tidied by its own build).
pub(super) fn unlink_site_top(site: &Path) -> Result<()> {
    if !site_is_folder(site)? {
        return Ok(());
    }
    fsutil::list_dir(site)?
        .iter()
        .try_for_each(|top| tidy(top, 0))
}

/// Whether `site` is a folder to tidy; a link there is an error.
fn site_is_folder(site: &Path) -> Result<bool> {
    if fsutil::is_symlink(site) {
        return Err(Error::from(InputError::new(
            Location::file(site),
            "is a symbolic link: the build does not write through it (set paths.site to the folder itself)",
        )));
    }
    Ok(site.is_dir())
}

/// Removes the links and stale temp files at `top` and below it, `depth` folders deep. A link at
/// the top is removed, never followed (a dangling one or a loop would fail every build; one to a
/// folder would be walked after it is gone).
fn tidy(top: &Path, depth: usize) -> Result<()> {
    for e in walkdir::WalkDir::new(top)
        .follow_root_links(false)
        .max_depth(depth)
    {
        let e = e.map_err(fsutil::walk_error)?;
        if e.path_is_symlink() || fsutil::is_stale_temp(&e) {
            fsutil::remove_file(e.path())?;
        }
    }
    Ok(())
}

pub(super) fn json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Copies every theme's `static/` files to `site/assets/<theme>/NAME.HASH.EXT`; returns each
/// theme's stylesheet URLs, and removes asset files no theme has any more.
pub(super) fn write_assets(
    themes: &Themes,
    site_dir: &Path,
    staging: &Path,
    root: &str,
    report: &mut Report,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut css = BTreeMap::new();
    let mut keep = HashSet::new();
    for t in themes.themes.values() {
        let mut urls = Vec::new();
        for (rel, bytes) in &t.statics {
            let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("asset");
            let ext = rel.extension().and_then(|s| s.to_str()).unwrap_or("");
            let hash = &fingerprint(bytes)[..10];
            let name = if ext.is_empty() {
                format!("{stem}.{hash}")
            } else {
                format!("{stem}.{hash}.{ext}")
            };
            let sub = rel.parent().unwrap_or(Path::new(""));
            let out_rel = Path::new("assets").join(&t.key).join(sub).join(&name);
            let out = site_dir.join(&out_rel);
            if fsutil::write_if_changed_via(&out, bytes, Some(staging))? != WriteOutcome::Unchanged
            {
                report.other_written += 1;
            }
            keep.insert(out);
            if ext == "css" {
                urls.push(format!(
                    "{root}{}",
                    out_rel.to_string_lossy().replace('\\', "/")
                ));
            }
        }
        css.insert(t.key.clone(), urls);
    }
    let assets = site_dir.join("assets");
    if assets.is_dir() {
        for entry in walkdir::WalkDir::new(&assets).contents_first(true) {
            let entry = entry.map_err(fsutil::walk_error)?;
            let p = entry.path();
            if entry.file_type().is_file() && !keep.contains(p) {
                fsutil::remove_file(p)?;
            } else if entry.file_type().is_dir() {
                fsutil::remove_empty_dir(p)?;
            }
        }
    }
    Ok(css)
}

/// A lead that leaves (re-routed, merged, renamed) leaves a redirect at its old URL, since emails
/// already sent link to it: a small page with a canonical link and a meta refresh (like Hugo's
/// aliases) to the page of the lead that lists the old key in its `aliases`, else to the index.
/// Redirects are kept build after build (`.leadsite/build/redirects.json`) until a page takes
/// the key again.
pub(super) fn write_redirects(
    s: &Shared,
    chosen: &[&Lead],
    old: &BTreeMap<String, String>,
    pages: &BTreeMap<String, String>,
    redirects: BTreeMap<String, String>,
    report: &mut Report,
) -> Result<()> {
    let path = s.config.build_dir().join("redirects.json");
    let mut redirects = redirects;
    let mut alias_of: BTreeMap<String, String> = BTreeMap::new();
    for l in chosen {
        for a in aliases(l) {
            match alias_of.get(&a) {
                Some(first) => report.warnings.push(format!(
                    "{}: alias {a} is claimed by {first} too; its old URL leads to {first}",
                    l.dedup_key
                )),
                None => {
                    alias_of.insert(a, l.dedup_key.clone());
                }
            }
        }
    }
    for key in old.keys().filter(|k| !pages.contains_key(*k)) {
        redirects.insert(key.clone(), String::new());
        report.removed += 1;
    }
    for a in alias_of.keys() {
        redirects.entry(a.clone()).or_default();
    }
    // A key that has a page again is no redirect; every target is a page of this build.
    redirects.retain(|k, _| {
        !pages.contains_key(k)
            && is_valid_key(k)
            && k != "assets"
            && !listing::RESERVED.contains(&k.as_str())
            && !s.content.pages.iter().any(|p| p.name == *k)
    });
    for (key, target) in redirects.iter_mut() {
        *target = alias_of
            .get(key)
            .filter(|t| pages.contains_key(*t))
            .map(|t| format!("{t}/"))
            .unwrap_or_default();
    }
    for (key, target) in &redirects {
        let to = format!("{}{target}", s.site.base_url);
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{moved_title}</title>\n<link rel=\"canonical\" href=\"{to}\">\n<meta name=\"robots\" content=\"noindex\">\n<meta http-equiv=\"refresh\" content=\"0; url={to}\">\n</head>\n<body>\n<p>{moved} <a href=\"{to}\">{to}</a></p>\n</body>\n</html>\n",
            lang = xml_escape(&s.site.language),
            moved_title = xml_escape(&theme::text(&s.strings["default"], "moved_title", "Moved")),
            moved = xml_escape(&theme::text(
                &s.strings["default"],
                "moved",
                "This page has moved:"
            )),
            to = xml_escape(&to),
        );
        if fsutil::write_if_changed_via(
            &s.site_dir.join(key).join("index.html"),
            html.as_bytes(),
            Some(&s.staging),
        )? != WriteOutcome::Unchanged
        {
            report.other_written += 1;
        }
    }
    report.redirects = redirects.len();
    fsutil::write_if_changed(&path, &json_bytes(&redirects))?;
    Ok(())
}

/// The former dedup_keys a lead lists in `aliases` (a list, or one key).
pub(super) fn aliases(lead: &Lead) -> Vec<String> {
    use serde_yaml_ng::Value;
    match lead.extra.get("aliases").as_deref() {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(Value::as_str)
            .map(|a| a.trim().to_string())
            .filter(|a| is_valid_key(a) && *a != lead.dedup_key)
            .collect(),
        Some(Value::String(a)) if is_valid_key(a.trim()) && a.trim() != lead.dedup_key => {
            vec![a.trim().to_string()]
        }
        _ => Vec::new(),
    }
}

/// The index, hubs and their pages (listing.rs), the content pages, 404.html, robots.txt and the
/// sitemap; list pages no longer made are removed.
/// Writes the site's files besides the landing pages: the lists (index, per industry and city),
/// the content pages, 404.html, the sitemap and robots.txt.
pub(super) fn write_site_files(s: &Shared, chosen: &[&Lead], report: &mut Report) -> Result<()> {
    let mut w = Writer { s, written: 0 };
    let lists = write_lists(&mut w, chosen)?;
    write_content_pages(&mut w)?;
    write_sitemap(&mut w, &lists, chosen)?;
    report.other_written += w.written;
    Ok(())
}

/// Writes files of the site, counting those whose bytes changed, and makes their contexts.
struct Writer<'s, 'a> {
    s: &'s Shared<'a>,
    written: usize,
}

impl Writer<'_, '_> {
    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        if self.write_shared(rel, bytes)? {
            self.written += 1;
        }
        Ok(())
    }

    /// [`Writer::write`] from many threads: whether the file was written (the caller counts).
    fn write_shared(&self, rel: &str, bytes: &[u8]) -> Result<bool> {
        let s = self.s;
        Ok(
            fsutil::write_if_changed_via(&s.site_dir.join(rel), bytes, Some(&s.staging))?
                != WriteOutcome::Unchanged,
        )
    }

    /// The context of a page of the default theme with this title, description and address.
    fn page_ctx(
        &self,
        title: &str,
        description: &str,
        canonical: String,
        noindex: bool,
    ) -> tera::Context {
        let s = self.s;
        let mut ctx = tera::Context::new();
        ctx.insert("site", &s.site);
        ctx.insert("pages", &s.pages);
        ctx.insert("stylesheets", &stylesheets(s, "default"));
        ctx.insert("t", &s.strings["default"]);
        ctx.insert(
            "seo",
            &Seo {
                title: seo::truncate(title, seo::TITLE_MAX),
                description: seo::truncate(description, seo::DESCRIPTION_MAX),
                og_type: "website",
                locale: og_locale(&s.site.language),
                image: None,
                large_image: false,
                json_ld: None,
                alternates: if noindex {
                    Vec::new()
                } else {
                    alternates(
                        &s.languages,
                        canonical
                            .strip_prefix(s.site.base_url.as_str())
                            .unwrap_or(""),
                    )
                },
                canonical,
                noindex,
            },
        );
        ctx
    }

    fn text(&self, key: &str, fallback: &str) -> String {
        theme::text(&self.s.strings["default"], key, fallback)
    }
}

/// The list pages (the index, each industry and city, page by page); those the last build
/// wrote that are no longer lists are removed.
fn write_lists(w: &mut Writer, chosen: &[&Lead]) -> Result<Vec<listing::ListPage>> {
    let s = w.s;
    let (root, base) = (&s.site.root, &s.site.base_url);
    // The site's word for each trade (`industry_<key>` in the theme's strings), else the key:
    // "Auto repair"; once a trade, not once a lead.
    let mut titles: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    let listed: Vec<listing::Listed> = chosen
        .iter()
        .map(|l| {
            let key = industry_of(l).unwrap_or("other");
            let title = titles.entry(key).or_insert_with(|| {
                let title = if key == "other" {
                    w.text("other_businesses", "Other businesses")
                } else {
                    w.text(&format!("industry_{key}"), &key.replace('-', " "))
                };
                match title.get(..1) {
                    Some(f) => f.to_uppercase() + &title[1..],
                    None => title,
                }
            });
            listing::Listed {
                lead: l,
                industry: (key.to_string(), title.clone()),
            }
        })
        .collect();
    let lists = listing::pages(
        &listed,
        root,
        s.config.site.per_page,
        &s.site.title,
        &s.strings["default"],
    );
    // Rendered and written on all cores (a list of 100,000 leads is thousands of pages).
    let reader = &*w;
    let written: Vec<bool> = lists
        .par_iter()
        .map(|list| {
            let title = if list.is_root {
                s.site.title.clone()
            } else {
                format!("{} | {}", list.heading, s.site.title)
            };
            let canonical = format!(
                "{base}{}",
                list.path.strip_prefix(root.as_str()).unwrap_or("")
            );
            let mut ctx = reader.page_ctx(
                &title,
                &format!("{} – {}", list.heading, list.intro),
                canonical,
                false,
            );
            ctx.insert("list", list);
            let template = if list.is_root {
                "index.html"
            } else {
                "list.html"
            };
            reader.write_shared(
                &list.rel,
                render(s, "default", template, &ctx, None)?.as_bytes(),
            )
        })
        .collect::<Result<_>>()?;
    w.written += written.iter().filter(|w| **w).count();
    let list_files: Vec<String> = lists.iter().map(|l| l.rel.clone()).collect();
    let listed_now: HashSet<&String> = list_files.iter().collect();
    let lists_manifest = s.config.build_dir().join("lists.json");
    // What the last build wrote (a manifest lost or spoiled: its old list pages stay).
    let old_lists: Vec<String> = fsutil::read_cache(&lists_manifest)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for rel in old_lists.iter().filter(|r| !listed_now.contains(r)) {
        // Only what this generator wrote: list pages under the reserved folders.
        let first = rel.split('/').next().unwrap_or("");
        if listing::RESERVED.contains(&first) && !rel.contains("..") {
            let path = s.site_dir.join(rel);
            if fsutil::remove_file(&path)? {
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != s.site_dir) {
                    if !fsutil::remove_empty_dir(d)? {
                        break;
                    }
                    dir = d.parent();
                }
            }
        }
    }
    fsutil::write_if_changed(&lists_manifest, &json_bytes(&list_files))?;
    Ok(lists)
}

/// The content pages (imprint, privacy, …) and 404.html.
fn write_content_pages(w: &mut Writer) -> Result<()> {
    let s = w.s;
    let base = &s.site.base_url;
    for p in &s.content.pages {
        let mut ctx = w.page_ctx(
            &format!("{} | {}", p.title, s.site.title),
            &format!("{} of {}.", p.title, s.site.title),
            format!("{base}{}/", p.name),
            false,
        );
        ctx.insert("page", p);
        w.write(
            &format!("{}/index.html", p.name),
            render(s, "default", "page.html", &ctx, None)?.as_bytes(),
        )?;
    }
    let ctx = w.page_ctx(
        &format!(
            "{} | {}",
            w.text("not_found", "Page not found"),
            s.site.title
        ),
        &w.text("not_found_text", "This page does not exist."),
        format!("{base}404.html"),
        true,
    );
    w.write(
        "404.html",
        render(s, "default", "404.html", &ctx, None)?.as_bytes(),
    )
}

/// The sitemap (every list, landing page with lastmod from its data, and content page; an
/// index of several past [`SITEMAP_MAX`] addresses) and robots.txt pointing to it.
fn write_sitemap(w: &mut Writer, lists: &[listing::ListPage], chosen: &[&Lead]) -> Result<()> {
    let s = w.s;
    let (root, base) = (&s.site.root, &s.site.base_url);
    let mut urls: Vec<(String, Option<String>)> = lists
        .iter()
        .map(|l| {
            (
                format!("{base}{}", l.path.strip_prefix(root.as_str()).unwrap_or("")),
                None,
            )
        })
        .collect();
    urls.extend(
        chosen
            .iter()
            .map(|l| (format!("{base}{}/", l.dedup_key), lastmod(l))),
    );
    urls.extend(
        s.content
            .pages
            .iter()
            .map(|p| (format!("{base}{}/", p.name), None)),
    );
    let sitemap = |list: &[(String, Option<String>)]| {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
        for (loc, lastmod) in list {
            x.push_str(&format!("  <url><loc>{}</loc>", xml_escape(loc)));
            if let Some(d) = lastmod {
                x.push_str(&format!("<lastmod>{d}</lastmod>"));
            }
            x.push_str("</url>\n");
        }
        x.push_str("</urlset>\n");
        x
    };
    if urls.len() <= SITEMAP_MAX {
        w.write("sitemap.xml", sitemap(&urls).as_bytes())?;
    } else {
        let mut index = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
        for (i, chunk) in urls.chunks(SITEMAP_MAX).enumerate() {
            let name = format!("sitemap-{}.xml", i + 1);
            w.write(&name, sitemap(chunk).as_bytes())?;
            index.push_str(&format!(
                "  <sitemap><loc>{}</loc></sitemap>\n",
                xml_escape(&format!("{base}{name}"))
            ));
        }
        index.push_str("</sitemapindex>\n");
        w.write("sitemap.xml", index.as_bytes())?;
    }
    w.write(
        "robots.txt",
        format!("User-agent: *\nAllow: /\n\nSitemap: {base}sitemap.xml\n").as_bytes(),
    )
}

/// The date a lead's data last changed, as the data says (never the clock).
pub(super) fn lastmod(lead: &Lead) -> Option<String> {
    let fetched = lead.source.as_ref().and_then(|s| s.fetched_at);
    let enriched = lead.enrichment.as_deref().and_then(|e| e.enriched_at);
    fetched
        .into_iter()
        .chain(enriched)
        .max()
        .map(|t| t.format("%Y-%m-%d").to_string())
}

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The redirects kept so far (`.leadsite/build/redirects.json`): the old URLs that sent emails
/// link to. One that cannot be read is an error, read before anything is written, never "no
/// redirects" (their pages would go, and those links with them).
pub(super) fn read_redirects(config: &Config) -> Result<BTreeMap<String, String>> {
    let path = config.build_dir().join("redirects.json");
    match fsutil::read_state(&path)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::from(InputError::new(
                Location::file(&path),
                format!(
                    "the redirects of leads that left cannot be read ({e}); restore it, or \
                     delete it to start over (the old addresses then lead nowhere)"
                ),
            ))
        }),
        None => Ok(BTreeMap::new()),
    }
}

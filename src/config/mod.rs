//! `leadsite.yaml`: the project's settings, with a documented default for every key. Paths in it
//! are relative to the folder the config file is in. Secrets never live here (environment only).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{yaml_error, Error, InputError, Location, Result};
use crate::fsutil;
use crate::lead::Route;

mod check;
mod deploy;
mod enrichment;
mod ingest;
mod outreach;
mod site;

pub use deploy::*;
pub use enrichment::*;
pub use ingest::*;
pub use outreach::*;
pub use site::*;

pub const DEFAULT_FILE: &str = "leadsite.yaml";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub site: Site,
    pub paths: Paths,
    pub ingest: Ingest,
    pub routing: Routing,
    pub enrichment: Enrichment,
    pub scoring: Scoring,
    pub outreach: Outreach,
    pub deploy: Deploy,
    /// The folder the config file is in; every relative path is taken from here.
    #[serde(skip)]
    pub root: PathBuf,
    /// Where the config was read from; `None` when the built-in defaults are used.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// Set for one language of a site built in several: its build reports go here, under
    /// `<work>/build/`.
    #[serde(skip)]
    pub build_subdir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    /// Routed lead files (`*.yaml`).
    pub leads: PathBuf,
    /// Private build artefacts and reports; never uploaded.
    pub work: PathBuf,
    /// The public site.
    pub site: PathBuf,
    /// Themes; a folder here replaces the built-in theme of its name.
    pub themes: PathBuf,
    /// Industry copy and pages; a file here replaces the built-in one.
    pub content: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            site: Site::default(),
            paths: Paths::default(),
            ingest: Ingest::default(),
            routing: Routing::default(),
            enrichment: Enrichment::default(),
            scoring: Scoring::default(),
            outreach: Outreach::default(),
            deploy: Deploy::default(),
            build_subdir: None,
            root: PathBuf::from("."),
            file: None,
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            leads: "leads".into(),
            work: ".leadsite".into(),
            site: "site".into(),
            themes: "themes".into(),
            content: "content".into(),
        }
    }
}

impl Config {
    /// Parses config text; `path` is only for messages. Reports every problem found.
    pub fn parse(text: &str, path: &Path) -> std::result::Result<Config, Vec<InputError>> {
        crate::limits::check_yaml(text, path).map_err(|e| vec![e])?;
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| vec![yaml_error(path, &e)])?
        };
        let problems = config.problems(path);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads the config at `path`. A missing file is an error only when `required` (the user
    /// named it); otherwise the defaults are used, rooted at the file's folder.
    pub fn load(path: &Path, required: bool) -> Result<Config> {
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut config = if path.exists() || required {
            // A file that is not there (or cannot be opened) is an I/O error; one too large to
            // be a config is a problem with the config.
            crate::limits::ensure_regular(path).map_err(|e| crate::fsutil::io_error(path, e))?;
            let text = crate::limits::read_text(path, crate::limits::MAX_TEXT_FILE)
                .map_err(|e| Error::Config(vec![e]))?;
            let mut c = Config::parse(&text, path).map_err(Error::Config)?;
            c.file = Some(path.to_path_buf());
            c
        } else {
            Config::default()
        };
        config.root = root;
        let escapes = config.links_inside();
        if !escapes.is_empty() {
            return Err(Error::Config(escapes));
        }
        Ok(config)
    }

    /// A path from the config, resolved against the project root.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn leads_dir(&self) -> PathBuf {
        self.resolve(&self.paths.leads)
    }

    pub fn work_dir(&self) -> PathBuf {
        self.resolve(&self.paths.work)
    }

    /// `site.base_url`, ending with `/` so that paths can be added to it.
    pub fn base_url(&self) -> String {
        let b = &self.site.base_url;
        if b.ends_with('/') {
            b.clone()
        } else {
            format!("{b}/")
        }
    }

    /// Where the build writes its reports (`<work>/build/`, per language when there are several).
    pub fn build_dir(&self) -> PathBuf {
        let dir = self.work_dir().join("build");
        match &self.build_subdir {
            Some(sub) => dir.join(sub),
            None => dir,
        }
    }

    pub fn site_dir(&self) -> PathBuf {
        self.resolve(&self.paths.site)
    }

    /// Every folder and file the config names, with its key.
    fn configured_paths(&self) -> Vec<(String, PathBuf)> {
        let mut out = vec![
            ("paths.leads".to_string(), self.paths.leads.clone()),
            ("paths.work".to_string(), self.paths.work.clone()),
            ("paths.site".to_string(), self.paths.site.clone()),
            ("paths.themes".to_string(), self.paths.themes.clone()),
            ("paths.content".to_string(), self.paths.content.clone()),
            (
                "outreach.transport.dir".to_string(),
                self.outreach.transport.dir.clone(),
            ),
        ];
        for (i, p) in self.enrichment.files.paths.iter().enumerate() {
            out.push((format!("enrichment.files.paths[{i}]"), p.clone()));
        }
        if let Some(csv) = &self.outreach.crm.csv {
            out.push(("outreach.crm.csv".to_string(), csv.clone()));
        }
        out
    }

    /// Refuses configured paths that a symbolic link takes out of the project: whatever is read
    /// or written there would be outside it (`leads -> /home`, `.leadsite/outbox -> /etc`).
    fn links_inside(&self) -> Vec<InputError> {
        let Ok(root) = self.root.canonicalize() else {
            return Vec::new();
        };
        let file = self
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("leadsite.yaml"));
        let mut out = Vec::new();
        for (field, p) in self.configured_paths() {
            let mut at = self.root.clone();
            for c in p.components() {
                at.push(c);
                if !fsutil::is_symlink(&at) {
                    continue;
                }
                if let Some(to) = leads_out(&at, &root) {
                    out.push(
                        InputError::new(
                            Location::file(&file),
                            format!(
                                "{} is a symbolic link to {to}, outside the project: not followed (make it a folder of the project)",
                                at.display()
                            ),
                        )
                        .with_field(field.clone()),
                    );
                    break;
                }
            }
        }
        // leadsite's own folders under the work folder (`.leadsite/bus`, `.leadsite/tmp`, …):
        // a link there would have files written, moved and deleted outside the project.
        let work = self.work_dir();
        let mut folders = vec![work.clone()];
        for sub in ["bus", "cache", "state"] {
            folders.push(work.join(sub));
        }
        for folder in folders {
            let entries = match fsutil::list_dir(&folder) {
                Ok(entries) => entries,
                Err(e) => {
                    out.push(e.into_input(&folder));
                    continue;
                }
            };
            for at in entries {
                if !fsutil::is_symlink(&at) {
                    continue;
                }
                if let Some(to) = leads_out(&at, &root) {
                    out.push(
                        InputError::new(
                            Location::file(&at),
                            format!(
                                "is a symbolic link to {to}, outside the project: leadsite writes here, so it does not follow it (remove the link)"
                            ),
                        ),
                    );
                } else if self.site_holds(&at) {
                    out.push(InputError::new(
                        Location::file(&at),
                        "is a symbolic link into the site folder: what leadsite keeps here (leads' emails, state) would be published (remove the link)",
                    ));
                }
            }
        }
        // Private folders that a link puts inside the site folder.
        for (field, p) in self.configured_paths() {
            if field != "paths.site" && self.site_holds(&self.resolve(&p)) {
                out.push(
                    InputError::new(
                        Location::file(&file),
                        format!(
                            "{} is inside the site folder (through a symbolic link): it would be published",
                            self.resolve(&p).display()
                        ),
                    )
                    .with_field(field),
                );
            }
        }
        out
    }

    /// Whether `at` is, once links are followed, inside the site folder.
    fn site_holds(&self, at: &Path) -> bool {
        match (self.site_dir().canonicalize(), at.canonicalize()) {
            (Ok(site), Ok(at)) => at.starts_with(site),
            _ => false,
        }
    }
}

/// Where a symbolic link at `at` leads, when that is outside `root` (or nowhere).
fn leads_out(at: &Path, root: &Path) -> Option<String> {
    match at.canonicalize() {
        Ok(t) if t.starts_with(root) => None,
        Ok(t) => Some(t.display().to_string()),
        Err(_) => Some("a path that does not exist".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_defaults() {
        let c = Config::parse("", Path::new("leadsite.yaml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.routing.rules.len(), 2);
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let e = Config::parse(
            "site:\n  title: X\n  colour: red\n",
            Path::new("leadsite.yaml"),
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].location.line, Some(3), "{}", e[0]);
        assert!(e[0].to_string().contains("colour"), "{}", e[0]);
    }

    #[test]
    fn nothing_private_shares_a_folder_with_the_site() {
        let fields = |text: &str| -> Vec<String> {
            Config::parse(text, Path::new("leadsite.yaml"))
                .err()
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.field.clone())
                .collect()
        };
        assert_eq!(fields("paths: {site: .}\n"), ["paths.site"]);
        assert_eq!(fields("paths: {site: ./}\n"), ["paths.site"]);
        assert_eq!(fields("paths: {work: site/private}\n"), ["paths.work"]);
        assert_eq!(
            fields(
                "paths: {site: public}\noutreach: {transport: {kind: file, dir: public/mail}}\n"
            ),
            ["outreach.transport.dir"]
        );
        assert_eq!(
            fields("paths: {site: leads}\n"),
            ["paths.leads", "paths.site"]
        );
        assert_eq!(fields("paths: {work: themes/default}\n"), ["paths.work"]);
        assert!(fields("paths: {site: public, work: private}\n").is_empty());
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let text = "site: {base_url: nope}\ningest: {default_region: XX}\nrouting:\n  rules:\n    - {present: ['bad field']}\n";
        let e = Config::parse(text, Path::new("leadsite.yaml")).unwrap_err();
        let fields: Vec<_> = e.iter().filter_map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "site.base_url",
                "ingest.default_region",
                "routing.rules[0].route",
                "routing.rules[0].present[0]"
            ]
        );
    }

    #[test]
    fn one_click_unsubscribe_urls_must_be_https() {
        let text = "outreach:\n  listen: {public_url: 'http://unsub.agency.example'}\n  one_click_url: http://agency.example/u/{lead}\n";
        let e = Config::parse(text, Path::new("leadsite.yaml")).unwrap_err();
        let fields: Vec<_> = e.iter().filter_map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            ["outreach.listen.public_url", "outreach.one_click_url"]
        );
        let query = "outreach:\n  listen: {public_url: 'https://unsub.agency.example/?x=1'}\n";
        assert!(Config::parse(query, Path::new("leadsite.yaml")).is_err());
        let ok = "outreach:\n  listen: {public_url: 'https://unsub.agency.example'}\n";
        assert!(Config::parse(ok, Path::new("leadsite.yaml")).is_ok());
    }

    #[test]
    fn each_provider_s_credentials_go_only_to_its_own_host() {
        let parse = |t: &str| Config::parse(t, Path::new("leadsite.yaml"));
        let twilio = parse("outreach:\n  whatsapp: {provider: twilio}\n").unwrap();
        assert_eq!(
            twilio.outreach.whatsapp.api_base(),
            "https://api.twilio.com"
        );
        let cloud = parse("outreach:\n  whatsapp: {provider: cloud}\n").unwrap();
        assert_eq!(
            cloud.outreach.whatsapp.api_base(),
            "https://graph.facebook.com"
        );
        for bad in [
            "http://gateway.example",
            "ftp://x.example",
            "graph.facebook.com",
        ] {
            let e = parse(&format!("outreach:\n  whatsapp: {{base_url: '{bad}'}}\n")).unwrap_err();
            assert_eq!(
                e[0].field.as_deref(),
                Some("outreach.whatsapp.base_url"),
                "{bad}"
            );
        }
        for ok in [
            "https://gateway.example/",
            "http://127.0.0.1:9000",
            "http://localhost:1",
        ] {
            let c = parse(&format!("outreach:\n  whatsapp: {{base_url: '{ok}'}}\n")).unwrap();
            assert_eq!(c.outreach.whatsapp.api_base(), ok.trim_end_matches('/'));
        }
    }

    #[test]
    fn the_graph_api_version_is_a_checked_setting() {
        let parse = |t: &str| Config::parse(t, Path::new("leadsite.yaml"));
        assert_eq!(
            parse("").unwrap().outreach.whatsapp.version,
            GRAPH_API_VERSION
        );
        for bad in ["21", "v21", "latest", "v2x.0"] {
            let e = parse(&format!("outreach:\n  whatsapp: {{version: '{bad}'}}\n")).unwrap_err();
            assert_eq!(
                e[0].field.as_deref(),
                Some("outreach.whatsapp.version"),
                "{bad}"
            );
        }
        assert!(graph_version("v21.0") < graph_version(GRAPH_API_VERSION));
        assert_eq!(graph_version("v24.0"), Some(24.0));
    }

    #[test]
    fn a_missing_default_config_means_defaults_rooted_at_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join(DEFAULT_FILE), false).unwrap();
        assert_eq!(c.leads_dir(), dir.path().join("leads"));
        assert!(Config::load(&dir.path().join("other.yaml"), true).is_err());
    }
}

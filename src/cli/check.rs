//! `leadsite check`: validate the config, every lead file, the themes and the content, and report
//! every problem at once.

use std::collections::HashMap;
use std::path::Path;

use crate::cli::{Outcome, Ui};
use crate::config::Config;
use crate::error::{Error, InputError, Location};
use crate::lead;
use crate::pipeline::validate;

/// Check the config, all lead files, themes and content; report every problem in one run.
///
/// Exits 0 when everything is valid and 3 when a problem was found.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as JSON on stdout (every problem with its file, line, lead and field).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, config_path: &Path, explicit: bool, ui: &Ui) -> anyhow::Result<Outcome> {
    let mut problems: Vec<InputError> = Vec::new();
    let config = match Config::load(config_path, explicit) {
        Ok(c) => c,
        Err(Error::Config(errs)) => {
            problems.extend(errs);
            let root = config_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| ".".into());
            Config {
                root,
                ..Config::default()
            }
        }
        Err(e) => return Err(e.into()),
    };
    // The leads' snapshot is used when there is one, never written (check changes nothing).
    let (loaded, _) = lead::snapshot::read_dir(
        &config.leads_dir(),
        &lead::snapshot::path_in(&config.work_dir()),
    );
    problems.extend(loaded.errors.iter().cloned());
    problems.extend(lead_problems(&loaded));
    let themes = crate::site::theme::Themes::load(&config.resolve(&config.paths.themes));
    let theme_count = match &themes {
        Ok(t) => t.themes.len(),
        Err(errs) => {
            problems.extend(errs.iter().cloned());
            0
        }
    };
    let mut warnings =
        match crate::site::content::Content::load(&config.resolve(&config.paths.content)) {
            Err(errs) => {
                problems.extend(errs);
                Vec::new()
            }
            Ok(content) => content_warnings(&config, &content, &loaded),
        };
    if let Ok(t) = &themes {
        problems.extend(theme_problems(&config, config_path, t));
    }
    problems.extend(sequence_problems(&config));
    warnings.extend(graph_version_warning(&config));
    // `check` lists every problem: that is what it is for.
    ui.problems(&problems, usize::MAX);
    for w in &warnings {
        ui.info(&format!("warning: {w}"));
    }
    let files = loaded.files.len();
    let leads = loaded.count();
    let config_name = config
        .file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    if args.json {
        ui.json(&serde_json::json!({
            "ok": problems.is_empty(),
            "config": config_name,
            "lead_files": files,
            "leads": leads,
            "themes": theme_count,
            "problems": crate::cli::ui::problems_json(&problems),
            "warnings": warnings,
        }));
    }
    if problems.is_empty() {
        ui.info(&format!(
            "ok: config ({config_name}), {leads} leads in {files} files, {theme_count} themes, content"
        ));
        Ok(Outcome::Success)
    } else {
        ui.info(&format!(
            "{} problems: config ({config_name}), {leads} leads in {files} files",
            problems.len()
        ));
        Ok(Outcome::Partial)
    }
}

/// Each lead as `build` would take it: the validate stage's full checks, a route, a key no other
/// lead file uses.
fn lead_problems(loaded: &lead::LoadedLeads) -> Vec<InputError> {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for (path, l) in loaded.leads() {
        for issue in validate::problems(l, validate::Depth::Full) {
            let msg = if issue.value.is_empty() {
                issue.reason.to_string()
            } else {
                format!("{}: {:?}", issue.reason, issue.value)
            };
            problems.push(
                InputError::new(Location::file(path), msg)
                    .with_lead(l.label())
                    .with_field(issue.field),
            );
        }
        if l.route.is_none() {
            problems.push(
                InputError::new(
                    Location::file(path),
                    "no route: run `leadsite ingest` or set TARGET, NURTURE or REJECT",
                )
                .with_lead(l.label())
                .with_field("route"),
            );
        }
        if let Some(first) = seen.insert(&l.dedup_key, path) {
            let msg = format!("dedup_key is also used in {}", first.display());
            problems.push(
                InputError::new(Location::file(path), msg)
                    .with_lead(l.label())
                    .with_field("dedup_key"),
            );
        }
    }
    problems
}

/// What `build` would warn about the pages of the TARGET leads: placeholders still in place,
/// industries on the default copy, English copy on a site in another language.
fn content_warnings(
    config: &Config,
    content: &crate::site::content::Content,
    loaded: &lead::LoadedLeads,
) -> Vec<String> {
    let targets: Vec<&lead::Lead> = loaded
        .leads()
        .map(|(_, l)| l)
        .filter(|l| l.route == Some(lead::Route::Target))
        .collect();
    let mut warnings =
        crate::site::placeholders::placeholders(config, content, targets.iter().copied());
    if config.enrichment.taxonomy.enabled {
        let taxonomy = crate::pipeline::enrich::taxonomy::Taxonomy::new(
            &config.enrichment.taxonomy.industries,
        );
        let industries: Vec<(String, &str)> = targets
            .iter()
            .filter_map(|l| {
                Some((
                    taxonomy.classify(l.category.as_deref()?)?.industry,
                    l.label(),
                ))
            })
            .collect();
        warnings.extend(crate::site::placeholders::default_copy(
            content,
            industries.iter().map(|(i, l)| (i.as_str(), *l)),
        ));
        warnings.extend(crate::site::placeholders::english_copy(
            config,
            content,
            industries.iter().map(|(i, _)| Some(i.as_str())),
        ));
    }
    warnings
}

/// Every theme the config names for an industry exists.
fn theme_problems(
    config: &Config,
    config_path: &Path,
    themes: &crate::site::theme::Themes,
) -> Vec<InputError> {
    let file = config
        .file
        .clone()
        .unwrap_or_else(|| config_path.to_path_buf());
    config
        .site
        .themes
        .iter()
        .filter(|(_, theme)| !themes.themes.contains_key(*theme))
        .map(|(industry, theme)| {
            InputError::new(
                Location::file(&file),
                format!("theme {theme:?} is neither in the project nor built in"),
            )
            .with_field(format!("site.themes.{industry}"))
        })
        .collect()
}

/// The outreach sequence, as `schedule` would load it: a bad step (delay, channel, template
/// parameters, a Tera error) is found before a run.
fn sequence_problems(config: &Config) -> Vec<InputError> {
    if !config.outreach.enabled {
        return Vec::new();
    }
    let content = config.resolve(&config.paths.content);
    match crate::outreach::sequence::Sequence::load(&content, &config.outreach.sequence) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid(errs)) => errs,
        Err(Error::Input(e)) => vec![*e],
        Err(e) => vec![InputError::new(
            Location::file(content.join("emails")),
            e.to_string(),
        )],
    }
}

/// An old Graph API version works until the day Meta retires it: say so before that day.
fn graph_version_warning(config: &Config) -> Option<String> {
    let w = &config.outreach.whatsapp;
    let newest = crate::config::graph_version(crate::config::GRAPH_API_VERSION);
    let in_use =
        !w.phone_number_id.is_empty() && w.provider == crate::config::WhatsAppProvider::Cloud;
    (in_use && crate::config::graph_version(&w.version) < newest).then(|| {
        format!(
            "outreach.whatsapp.version {} is older than {}: Meta retires each Graph API version about two years after its release; update it in leadsite.yaml",
            w.version,
            crate::config::GRAPH_API_VERSION
        )
    })
}

//! `leadsite init DIR`: a new project with a config, the built-in themes and content to edit, and
//! one example lead, ready for `leadsite build`.

use std::path::{Path, PathBuf};

use crate::cli::{Outcome, Ui};
use crate::fsutil;
use crate::site::embedded;

/// Create a new project: leadsite.yaml, themes/ and content/ (and with --example, a fictional lead).
///
/// Refuses to touch a folder that already has a leadsite.yaml. What is still a placeholder (the
/// base URL, the call to action, the imprint) `leadsite check` and `build` point out until replaced.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project folder (created when missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Also write a fictional example lead, to see a page before importing real data.
    #[arg(long)]
    pub example: bool,
}

const CONFIG: &str = r#"# leadsite project settings. Every key is optional; `leadsite check` validates this file.
# The example project of leadsite's repository documents every key and its default.
site:
  base_url: https://pages.example.com/     # where site/ will be served from
  title: Local businesses
  language: en
  # cta_url: https://your-agency.example/claim   # the pages' call to action (UTM tags added)

routing:
  rules:
    - route: REJECT
      reason: no phone, email or website to reach them
      missing: [phone, email, website]
    - route: TARGET
      reason: no website yet
      missing: [website]
  default:
    route: NURTURE

scoring:
  threshold: 0.5
"#;

const EXAMPLE_LEAD: &str = r#"# An example lead (fictional). `leadsite ingest EXPORT.csv` writes lead files like this one.
dedup_key: example-auto-repair-springfield-il
name: Example Auto Repair
category: Auto repair shop
address: {street: 12 Main St, city: Springfield, region: IL, postal_code: '62701', country: US}
location: {lat: 39.7817, lng: -89.6501, accuracy: rooftop}
phone: '+12175550134'
email: hello@example-auto.example
rating: 4.6
review_count: 32
route: TARGET
route_reason: no website yet
"#;

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<Outcome> {
    let dir = &args.dir;
    if dir.join("leadsite.yaml").exists() {
        return Err(crate::cli::usage(format!(
            "{} already has a leadsite.yaml: not touching it",
            dir.display()
        )));
    }
    let mut written = 0;
    let mut write = |rel: &Path, bytes: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(rel);
        if !path.exists() {
            fsutil::write_atomic(&path, bytes, false)?;
            written += 1;
        }
        Ok(())
    };
    write(Path::new("leadsite.yaml"), CONFIG.as_bytes())?;
    if args.example {
        write(
            Path::new("leads/example-auto-repair-springfield-il.yaml"),
            EXAMPLE_LEAD.as_bytes(),
        )?;
    } else {
        fsutil::create_dir_all(&dir.join("leads"))?;
    }
    for (rel, bytes) in embedded::raw_files(&embedded::THEMES) {
        write(&Path::new("themes").join(rel), bytes)?;
    }
    for (rel, bytes) in embedded::raw_files(&embedded::CONTENT) {
        write(&Path::new("content").join(rel), bytes)?;
    }
    write(Path::new(".gitignore"), b"/site/\n/.leadsite/\n")?;
    ui.info(&format!(
        "created {} ({written} files). Next: cd {} && leadsite ingest EXPORT.csv && leadsite build{}",
        dir.display(),
        dir.display(),
        if args.example {
            ""
        } else {
            " (or init --example for a fictional lead)"
        }
    ));
    Ok(Outcome::Success)
}

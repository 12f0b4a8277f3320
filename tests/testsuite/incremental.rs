//! Issue 16: an incremental build writes the same site as a build into an empty `site/`. Lead
//! files are edited, added, deleted, renamed and re-keyed, leads move city and route, a project
//! theme and industry copy come and go and the config changes — each change alone and every pair
//! of them together, one build after another. After each step the incremental build's `site/`
//! is compared byte for byte with a build of the same sources into an empty `site/`, given the
//! same history (`.leadsite/` as it was before the step: the old pages a redirect is made for),
//! and the leads the incremental build took mostly from its snapshot of parsed lead files must be
//! those the clean build parsed (its enriched and scored leads, byte for byte).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::harness::{tree, Project};

const CONFIG: &str = "site:\n  base_url: https://pages.agency.example/\n  title: Example pages\n  cta_url: https://agency.example/claim\n  per_page: 4\nenrichment:\n  website:\n    enabled: false\n";

#[derive(Clone)]
struct Spec {
    key: String,
    name: String,
    category: &'static str,
    city: &'static str,
    target: bool,
}

impl Spec {
    fn yaml(&self) -> String {
        format!(
            "dedup_key: {}\nname: {}\ncategory: {}\nphone: '+12175550134'\nemail: hello@{}.example\naddress: {{street: 1 Main St, city: {}, region: IL, postal_code: '62701', country: US}}\nlocation: {{lat: 39.78, lng: -89.65, accuracy: rooftop}}\nrating: 4.5\nreview_count: 20\nsource: {{kind: csv, fetched_at: 2026-11-20T10:00:00Z}}\nroute: {}\nroute_reason: test\n",
            self.key,
            self.name,
            self.category,
            self.key,
            self.city,
            if self.target { "TARGET" } else { "NURTURE" }
        )
    }
}

/// The lead files of the project as the test knows them: file name → lead.
struct Model {
    files: BTreeMap<String, Spec>,
}

impl Model {
    fn write(&self, p: &Project, file: &str) {
        p.write(&format!("leads/{file}"), &self.files[file].yaml());
    }

    /// The `step`-th file, in name order.
    fn pick(&self, step: usize) -> String {
        let names: Vec<&String> = self.files.keys().collect();
        names[step % names.len()].clone()
    }
}

const OPS: [&str; 10] = [
    "edit", "add", "delete", "rename", "rekey", "city", "route", "theme", "content", "config",
];

fn apply(op: &str, step: usize, m: &mut Model, p: &Project) {
    match op {
        "edit" => {
            let f = m.pick(step);
            let spec = m.files.get_mut(&f).unwrap();
            spec.name = format!("{} {step}", spec.name.split(' ').next().unwrap());
            m.write(p, &f);
        }
        "add" => {
            let f = format!("new-{step}.yaml");
            let spec = Spec {
                key: format!("new-{step}"),
                name: format!("Newco{step}"),
                category: ["Auto repair shop", "Italian restaurant"][step % 2],
                city: ["Springfield", "Peoria"][step % 2],
                target: true,
            };
            m.files.insert(f.clone(), spec);
            m.write(p, &f);
        }
        "delete" => {
            if m.files.len() > 3 {
                let f = m.pick(step);
                m.files.remove(&f);
                fs::remove_file(p.path(&format!("leads/{f}"))).unwrap();
            }
        }
        "rename" => {
            let f = m.pick(step);
            let to = format!("renamed-{step}.yaml");
            let spec = m.files.remove(&f).unwrap();
            m.files.insert(to.clone(), spec);
            fs::rename(
                p.path(&format!("leads/{f}")),
                p.path(&format!("leads/{to}")),
            )
            .unwrap();
        }
        "rekey" => {
            let f = m.pick(step + 1);
            let spec = m.files.get_mut(&f).unwrap();
            spec.key = format!("{}-k{step}", spec.key.split("-k").next().unwrap());
            m.write(p, &f);
        }
        "city" => {
            let f = m.pick(step + 2);
            let spec = m.files.get_mut(&f).unwrap();
            spec.city = if spec.city == "Springfield" {
                "Peoria"
            } else {
                "Springfield"
            };
            m.write(p, &f);
        }
        "route" => {
            let f = m.pick(step + 3);
            let spec = m.files.get_mut(&f).unwrap();
            spec.target = !spec.target;
            m.write(p, &f);
        }
        "theme" => {
            if p.path("themes/auto-repair").exists() && step.is_multiple_of(3) {
                fs::remove_dir_all(p.path("themes/auto-repair")).unwrap();
            } else {
                p.write(
                    "themes/auto-repair/theme.yaml",
                    "extends: default\nindustries: [auto-repair]\n",
                );
                p.write(
                    "themes/auto-repair/templates/landing.html",
                    &format!("{{% extends \"default/landing.html\" %}}\n{{% block hero %}}\n<h1>{{{{ business.name }}}} — version {step}</h1>\n{{% endblock %}}\n"),
                );
            }
        }
        "content" => {
            p.write(
                "content/industries/auto-repair.md",
                &format!(
                    "---\ntagline: Brakes, version {step}.\n---\nOur own words, version {step}.\n"
                ),
            );
        }
        "config" => {
            p.write(
                "leadsite.yaml",
                &CONFIG.replace("Example pages", &format!("Example pages {step}")),
            );
        }
        _ => unreachable!("{op}"),
    }
}

/// Copies `from` into `to` (files only; the lock file stays behind).
fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().flatten() {
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else if e.file_type().is_file() && e.file_name() != "project.lock" {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn an_incremental_build_equals_a_clean_build_after_every_change_and_pair_of_changes() {
    let p = Project::with_config(CONFIG);
    let mut m = Model {
        files: BTreeMap::new(),
    };
    for i in 0..9 {
        let spec = Spec {
            key: format!("lead-{i}"),
            name: format!("Biz{i}"),
            category: ["Auto repair shop", "Italian restaurant", "Plumber"][i % 3],
            city: ["Springfield", "Peoria"][i % 2],
            target: i != 4,
        };
        let f = format!("lead-{i}.yaml");
        m.files.insert(f.clone(), spec);
        m.write(&p, &f);
    }
    p.run(&["build", "--offline"]).code(0);

    let mut steps: Vec<Vec<&str>> = OPS.iter().map(|o| vec![*o]).collect();
    for (i, a) in OPS.iter().enumerate() {
        for b in &OPS[i + 1..] {
            steps.push(vec![*a, *b]);
        }
    }
    for (step, ops) in steps.iter().enumerate() {
        for op in ops {
            apply(op, step, &mut m, &p);
        }
        // The clean build: the same sources and history, an empty site/.
        let clean = Project::new();
        for dir in ["leads", "themes", "content", ".leadsite"] {
            if p.path(dir).exists() {
                copy_tree(&p.path(dir), &clean.path(dir));
            }
        }
        fs::copy(p.path("leadsite.yaml"), clean.path("leadsite.yaml")).unwrap();

        let run = p.run(&["-v", "build", "--offline"]);
        run.code(0);
        clean.run(&["build", "--offline"]).code(0);
        // Most lead files come from the snapshot (a step changes one or two of them).
        let reused = run
            .stderr
            .lines()
            .find_map(|l| {
                l.strip_prefix("lead files: ")?
                    .split(", ")
                    .nth(1)?
                    .split(' ')
                    .next()
            })
            .and_then(|n| n.parse::<usize>().ok());
        assert!(
            reused.is_some_and(|n| n >= 6),
            "step {step}: {}",
            run.stderr
        );
        let (ours, theirs) = (tree(&p.path("site")), tree(&clean.path("site")));
        let differ: Vec<&String> = ours
            .keys()
            .chain(theirs.keys())
            .filter(|k| ours.get(*k) != theirs.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "step {step} {ops:?}: the incremental site differs from a clean build in {differ:?}"
        );
        // The leads as this build had them (most from the snapshot of parsed lead files) are
        // those the clean build parsed (its snapshot is of another folder: not used).
        for artefact in ["enriched_leads.jsonl", "scored_leads.jsonl"] {
            let read = |p: &Project| fs::read_to_string(p.path(".leadsite/build").join(artefact));
            assert_eq!(
                read(&p).unwrap(),
                read(&clean).unwrap(),
                "step {step} {ops:?}: {artefact}"
            );
        }
    }
}

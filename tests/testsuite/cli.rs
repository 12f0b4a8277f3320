//! The command line itself: help, version, usage errors.

use crate::harness::Project;

/// The subcommands a help text lists (none when it has no `Commands:`).
fn subcommands(help: &str) -> Vec<String> {
    let Some(list) = help.split("Commands:").nth(1) else {
        return Vec::new();
    };
    list.split("Options:")
        .next()
        .unwrap()
        .lines()
        // A command's line starts with two spaces; its wrapped help with more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_subcommand_has_help() {
    let p = Project::new();
    let top = p.run(&["--help"]);
    top.code(0);
    assert!(top.stdout.contains("Exit status"), "{}", top.stdout);
    // Every command the help lists, and theirs (`state export`), so that a new one cannot go
    // without.
    let mut todo: Vec<Vec<String>> = subcommands(&top.stdout)
        .into_iter()
        .map(|c| vec![c])
        .collect();
    assert!(todo.len() >= 12, "{todo:?}");
    let mut seen = Vec::new();
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = p.run(&args);
        run.code(0);
        let name = path.join(" ");
        assert!(
            run.stdout.contains(&format!("Usage: leadsite {name}")),
            "{name}: {}",
            run.stdout
        );
        for sub in subcommands(&run.stdout) {
            let mut deeper = path.clone();
            deeper.push(sub);
            todo.push(deeper);
        }
        seen.push(name);
    }
    assert!(
        seen.iter().any(|n| n == "state export"),
        "the nested commands too: {seen:?}"
    );
}

#[test]
fn unknown_commands_and_bad_values_are_usage_errors() {
    let p = Project::new();
    p.run(&["build-everything"]).code(2);
    p.run(&["ingest"]).code(2);
    p.run(&["ingest", "--format", "xls", "a.xls"]).code(2);
    // A value clap cannot check, refused by the library: bad usage too.
    let run = p.run(&["ingest", "--region", "Atlantis", "a.csv"]);
    run.code(2).says("--region \"Atlantis\"");
}

#[test]
fn quiet_prints_no_summary() {
    let p = Project::new();
    let input = p.fixture("overpass.json");
    let run = p.run(&["-q", "ingest", &input]);
    run.code(3);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
}

#[test]
fn a_config_named_on_the_command_line_must_exist() {
    let p = Project::new();
    std::fs::remove_file(p.path("leadsite.yaml")).ok();
    // Omitted: the built-in defaults.
    p.run(&["check"]).code(0);
    // Named, even with the default's name: an error that names it.
    let run = p.run(&["--config", "leadsite.yaml", "check"]);
    run.code(1);
    run.says("leadsite.yaml");
    assert_eq!(
        run.stderr.matches("No such file").count(),
        1,
        "the cause is printed once: {}",
        run.stderr
    );
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let p = Project::new();
    let mut yaml = String::new();
    for i in 0..600 {
        yaml.push_str(&format!("---\ndedup_key: shop-{i}\nname: Shop {i} with a long enough name to fill the pipe\nphone: '+12175550134'\naddress: {{street: {i} Main St, city: Springfield, region: IL, country: US}}\nroute: TARGET\n"));
    }
    p.write("leads/all.yaml", &yaml);
    let exe = assert_cmd::cargo::cargo_bin("leadsite");
    for cmd in ["export", "status"] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; \"$0\" {cmd} | head -c 10 > /dev/null"
            ))
            .arg(&exe)
            .current_dir(p.path("."))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{cmd}: {:?}", out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
        assert!(!stderr.contains("error"), "{cmd}: {stderr}");
    }
}

#[test]
fn completions_and_the_manual_come_from_the_command_definitions() {
    let p = Project::new();
    let bash = p.run(&["completions", "bash"]);
    bash.code(0);
    assert!(bash.stdout.contains("_leadsite()"), "{}", bash.stdout);
    for cmd in ["ingest", "schedule", "completions"] {
        assert!(bash.stdout.contains(cmd), "{cmd}");
    }
    p.run(&["completions", "zsh"]).code(0);
    // -q silences what is said about the work, not what the command is run for.
    let quiet = p.run(&["-q", "completions", "bash"]);
    assert_eq!(quiet.stdout, bash.stdout);
    assert!(p.run(&["-q", "man"]).stdout.contains(".TH"));
    p.run(&["completions", "klingon"]).code(2);
    let man = p.run(&["man"]);
    man.code(0);
    assert!(man.stdout.contains(".TH leadsite 1"), "{}", man.stdout);
    assert!(
        man.stdout.contains(".TH leadsite-schedule"),
        "{}",
        man.stdout
    );
    assert!(man.stdout.contains("\\-\\-dry\\-run"), "{}", man.stdout);
}

#[test]
fn ingest_check_and_build_give_json_summaries() {
    let p = Project::new();
    p.write("leads/broken.yaml", "dedup_key: broken\nname: [unclosed\n");
    let input = p.fixture("overpass.json");
    let json = |run: &crate::harness::Run| -> serde_json::Value {
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    };
    let ingest = p.run(&["ingest", "--json", &input]);
    ingest.code(3);
    let v = json(&ingest);
    assert_eq!(v["files"][0]["format"], "overpass", "{v}");
    assert!(v["leads"]["created"].as_u64().unwrap() > 0, "{v}");
    let check = p.run(&["check", "--json"]);
    check.code(3);
    let v = json(&check);
    assert_eq!(v["ok"], false);
    let problem = &v["problems"][0];
    assert!(
        problem["file"].as_str().unwrap().ends_with("broken.yaml"),
        "{v}"
    );
    assert!(problem["line"].is_u64(), "{v}");
    let build = p.run(&["build", "--offline", "--json"]);
    build.code(3);
    let v = json(&build);
    assert!(v["site"]["written"].as_u64().unwrap() > 0, "{v}");
    assert!(v["problems"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("broken.yaml"));
}

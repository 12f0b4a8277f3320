//! The command line itself: help, version, usage errors.

use crate::harness::Project;

#[test]
fn every_subcommand_has_help() {
    let p = Project::new();
    for cmd in ["ingest", "check", "export"] {
        let run = p.run(&[cmd, "--help"]);
        run.code(0);
        assert!(
            run.stdout.contains("Usage: leadsite"),
            "{cmd}: {}",
            run.stdout
        );
    }
    let top = p.run(&["--help"]);
    for cmd in ["ingest", "check", "export"] {
        assert!(top.stdout.contains(cmd), "{}", top.stdout);
    }
    assert!(top.stdout.contains("Exit status"), "{}", top.stdout);
}

#[test]
fn unknown_commands_and_bad_values_are_usage_errors() {
    let p = Project::new();
    p.run(&["build-everything"]).code(2);
    p.run(&["ingest"]).code(2);
    p.run(&["ingest", "--format", "xls", "a.xls"]).code(2);
    let run = p.run(&["ingest", "--region", "Atlantis", "a.csv"]);
    run.code(1);
    assert!(
        run.stderr.contains("--region \"Atlantis\""),
        "{}",
        run.stderr
    );
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

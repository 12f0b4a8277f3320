//! The outreach layer built so far: `leadsite publish` onto the file message bus.

use crate::harness::Project;

#[test]
fn publish_is_durable_idempotent_by_id_and_checked() {
    let p = Project::new();
    p.run(&[
        "publish",
        "lead.bounced",
        "--lead",
        "acme",
        "--id",
        "bounce-1",
        "--data",
        "kind=hard",
    ])
    .code(0);
    p.run(&[
        "publish",
        "lead.bounced",
        "--lead",
        "acme",
        "--id",
        "bounce-1",
        "--data",
        "kind=hard",
    ])
    .code(0);
    let files: Vec<_> = std::fs::read_dir(p.path(".leadsite/bus/log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one id, one event");
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(event["topic"], "lead.bounced");
    assert_eq!(event["lead_id"], "acme");
    assert_eq!(event["data"]["kind"], "hard");

    let run = p.run(&["publish", "lead.teleported", "--lead", "acme"]);
    run.code(2);
    let run = p.run(&["publish", "lead.responded", "--lead", "../x"]);
    run.code(1);
    assert!(run.stderr.contains("not a dedup_key"), "{}", run.stderr);
}

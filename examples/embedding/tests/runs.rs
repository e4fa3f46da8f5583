//! Builds and runs the embedding example so it cannot rot.

use std::process::Command;

#[test]
fn example_creates_an_org_a_person_and_prints_their_events() {
    let db = std::env::temp_dir().join(format!("workos-example-{}.db", std::process::id()));
    let url = format!("sqlite://{}", db.display());
    let out = Command::new(env!("CARGO_BIN_EXE_workos-embedding-example"))
        .arg(&url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Ada <ada@initech.com>"), "{stdout}");
    assert!(stdout.contains("Grace <grace@initech.com>"), "{stdout}");
    let events: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("event "))
        .collect();
    let types: Vec<&str> = events
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "org.created",
            "member.created",
            "person.created",
            "company.created",
            "person.updated",
            // Grace; finding Ada again wrote nothing.
            "person.created"
        ]
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

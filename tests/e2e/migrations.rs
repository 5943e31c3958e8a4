//! The two dialects' migrations move in lockstep: same versions, same names, and every file on
//! disk is compiled into the binary.

use std::path::Path;

fn names(dir: &str) -> anyhow::Result<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dir);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&root)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".sql") {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions() -> anyhow::Result<()> {
    let sqlite = names("sqlite")?;
    let postgres = names("postgres")?;
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
    let compiled: Vec<String> = pifa::store::MIGRATION_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    assert_eq!(
        sqlite, compiled,
        "a migration file is not listed in kernel/src/store.rs"
    );
    for (index, name) in sqlite.iter().enumerate() {
        let version: usize = name.split('_').next().unwrap_or_default().parse()?;
        assert_eq!(
            version,
            index + 1,
            "migration versions must be 1, 2, 3 … without gaps: {name}"
        );
    }
    Ok(())
}

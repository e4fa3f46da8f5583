//! The SQLite database file the store creates is private to its owner.

use workos_core::domain::NewOrg;
use workos_core::repo::Directory;
use workos_store::SqlStore;

/// Removes the database file and its WAL companions, also when the test panics.
struct Files(std::path::PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sqlite_file_is_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;

    let path = std::env::temp_dir().join(format!("workos-mode-{}.db", uuid::Uuid::now_v7()));
    let files = Files(path.clone());
    let mode = |suffix: &str| {
        let mut p = files.0.clone().into_os_string();
        p.push(suffix);
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{p:?}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };

    let store = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
        .create_org(
            NewOrg {
                name: "Private".into(),
            },
            None,
        )
        .await
        .expect("a write");
    assert_eq!(mode(""), 0o600, "the database file is the owner's only");
    assert_eq!(mode("-wal"), 0o600, "so is its write-ahead log");
    store.close().await;
}

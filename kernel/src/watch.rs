//! Hot reload for files operators and integrators edit on a running server (`plugins.toml`
//! and components, the Rhai scripts). Files are watched through their directories, so editors
//! and tools that save by rename are seen too; other files there are ignored (the data
//! directory's database changes all the time); a burst of changes is debounced into one reload.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

const DEBOUNCE: Duration = Duration::from_millis(300);

/// Something that reloads from files.
pub trait Reloadable: Send + Sync + 'static {
    /// What it is, for the log.
    fn what(&self) -> &'static str;
    /// The files that matter now, as absolute paths (they may change with a reload).
    fn watched_files(&self) -> BTreeSet<PathBuf>;
    /// Reloads (blocking); a refusal is reported by the implementation.
    fn reload_now(&self);
}

/// Starts watching; `None` (logged) where the platform cannot watch.
pub fn spawn<R: Reloadable>(target: Arc<R>) -> Option<tokio::task::JoinHandle<()>> {
    let relevant = Arc::new(Mutex::new(target.watched_files()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let seen = relevant.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let matters = seen
            .lock()
            .is_ok_and(|files| event.paths.iter().any(|p| files.contains(p)));
        if matters {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, what = target.what(), "cannot watch for changes; reload by restarting");
            return None;
        }
    };
    let mut watching = BTreeSet::new();
    let mut watch_dirs = move |files: &BTreeSet<PathBuf>,
                               watcher: &mut notify::RecommendedWatcher| {
        for dir in files.iter().filter_map(|f| f.parent()) {
            if !watching.contains(dir) && dir.is_dir() {
                match watcher.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        watching.insert(dir.to_path_buf());
                    }
                    Err(error) => tracing::warn!(%error, dir = %dir.display(), "cannot watch"),
                }
            }
        }
    };
    if let Ok(files) = relevant.lock() {
        watch_dirs(&files, &mut watcher);
    }
    Some(tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let the burst (write, rename, chmod) settle, then reload once.
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            let reloading = target.clone();
            let _ = tokio::task::spawn_blocking(move || reloading.reload_now()).await;
            let files = target.watched_files();
            watch_dirs(&files, &mut watcher);
            if let Ok(mut relevant) = relevant.lock() {
                *relevant = files;
            }
        }
    }))
}

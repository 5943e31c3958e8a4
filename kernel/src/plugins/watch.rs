//! Hot reload: `plugins.toml` and the component files are watched through their directories
//! (so editors that save by rename are seen too), other files there ignored (the data
//! directory's database changes all the time); a burst of changes is debounced into one reload.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::PluginHost;

const DEBOUNCE: Duration = Duration::from_millis(300);

/// The files that matter, as absolute paths: the config and each serving component.
fn watched_files(host: &PluginHost) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    files.extend(std::path::absolute(&host.config_path).ok());
    for plugin in &host.current().plugins {
        files.extend(std::path::absolute(&plugin.declared.component).ok());
    }
    files
}

/// Starts the watcher; `None` (logged) where the platform cannot watch.
pub fn spawn(host: Arc<PluginHost>) -> Option<tokio::task::JoinHandle<()>> {
    let relevant = Arc::new(Mutex::new(watched_files(&host)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let seen = relevant.clone();
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
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
        }) {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::warn!(%error, "cannot watch plugins.toml; reload by restarting");
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
            let reloading = host.clone();
            let _ = tokio::task::spawn_blocking(move || reloading.reload()).await;
            let files = watched_files(&host);
            watch_dirs(&files, &mut watcher);
            if let Ok(mut relevant) = relevant.lock() {
                *relevant = files;
            }
        }
    }))
}

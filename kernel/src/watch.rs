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
    // Not under the lock: `watch` waits for the watcher's thread, which may be waiting for
    // the lock in the callback above over a change already seen (a database beside
    // plugins.toml changes all the time): that was a deadlock at start.
    let files = relevant
        .lock()
        .map(|files| files.clone())
        .unwrap_or_default();
    watch_dirs(&files, &mut watcher);
    Some(tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let the burst (write, rename, chmod) settle, then reload once: wait until the
            // files have been quiet for a whole DEBOUNCE, so a file still being written when
            // the first wait ends is not read half-way.
            loop {
                tokio::time::sleep(DEBOUNCE).await;
                let mut more = false;
                while rx.try_recv().is_ok() {
                    more = true;
                }
                if !more {
                    break;
                }
            }
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

/// Replaces a watched file's contents whole: written beside it under a hidden name, then
/// renamed over it, so a watcher (this one, or another instance's) never reads half a file.
pub fn replace_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staged = path.with_file_name(format!(".{name}.{}", rand::random::<u64>()));
    std::fs::write(&staged, contents)?;
    std::fs::rename(&staged, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&staged);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files(BTreeSet<PathBuf>);

    impl Reloadable for Files {
        fn what(&self) -> &'static str {
            "test files"
        }
        fn watched_files(&self) -> BTreeSet<PathBuf> {
            self.0.clone()
        }
        fn reload_now(&self) {}
    }

    /// Starting to watch two directories while one of them changes all the time (a database
    /// beside `plugins.toml`) returns: it once deadlocked, the second `watch` waiting for the
    /// watcher's thread while that thread waited for the list of files held across it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starting_beside_a_busy_file_does_not_hang() -> anyhow::Result<()> {
        // The busy directory is watched first, then fifty quiet ones: each `watch` a round
        // trip to the watcher's thread while the busy one's changes arrive.
        let root = tempfile::tempdir()?;
        let busy = root.path().join("a-busy");
        std::fs::create_dir(&busy)?;
        let mut watched = BTreeSet::from([busy.join("plugins.toml")]);
        for n in 0..50 {
            let quiet = root.path().join(format!("b-quiet-{n:02}"));
            std::fs::create_dir(&quiet)?;
            watched.insert(quiet.join("a.wasm"));
        }
        let files = Files(watched);
        let target = Arc::new(files);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, stop) = (busy.join("pifa.db"), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::write(&path, b"changing");
                }
            })
        };
        for _ in 0..5 {
            // On a thread of its own, so a hang fails the test instead of hanging it.
            let (target, handle) = (target.clone(), tokio::runtime::Handle::current());
            let (done, started) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _runtime = handle.enter();
                let _ = done.send(spawn(target).map(|task| task.abort()));
            });
            let started = started.recv_timeout(Duration::from_secs(10));
            assert!(started.is_ok(), "watching did not start within 10 s");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer panicked"))?;
        Ok(())
    }
}

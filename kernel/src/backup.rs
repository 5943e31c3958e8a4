//! Backup and restore (L4). A backup is a gzip'd JSON-lines file that does not depend on the
//! backend: a header, then per table a line naming its columns followed by one line per row.
//! Values are typed by the *declared* column types, so a SQLite backup restores into
//! PostgreSQL and back. Sessions, codes and rate-limit counters are never written out. With a
//! passphrase (`PIFA_BACKUP_PASSPHRASE`) the file is encrypted with age (scrypt); a restore
//! recognises an encrypted file by its header.
//!
//! Uploaded files (licence and shop photos, product pictures) travel in the same file, after
//! the tables, one line each (`{"file": key, "base64": …}`): a restore puts back the pictures
//! its rows point to. They are staged beside the uploads and moved in only once the rows are
//! committed, and files no restored row refers to are removed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row};

use crate::jobs::Progress;
use crate::store::{Backend, DATA_TABLES, EPHEMERAL_TABLES, Store, StoreError, in_tx, on_pool};

crate::store::handle! {
    /// The backups' part of the store: writing a backup of every table and restoring one.
    pub BackupStore, backups
}

const FORMAT: &str = "pifa-backup";
/// Version 2 added the uploaded files; version 1 files (rows only) still restore.
const FORMAT_VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    created_at_ms: i64,
    /// Schema versions the data was read from; a restore needs the same.
    migrations: Vec<i64>,
}

/// One uploaded file.
#[derive(Serialize, Deserialize)]
struct FileEntry {
    file: String,
    base64: String,
}

/// The row count under which a backup reports its files.
pub const FILES_COUNT: &str = "(files)";

/// An upload key as `images::stage_image` makes them: a plain file name, never a path.
fn is_upload_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 120
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

#[derive(Serialize, Deserialize)]
struct TableStart {
    table: String,
    columns: Vec<String>,
}

/// How a column's values are read and bound, from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Text,
    Bool,
    Bytes,
}

impl Kind {
    fn of_declared(declared: &str) -> Kind {
        let t = declared.to_ascii_lowercase();
        if t.contains("bool") {
            Kind::Bool
        } else if t.contains("int") {
            Kind::Int
        } else if t.contains("real")
            || t.contains("double")
            || t.contains("float")
            || t.contains("numeric")
        {
            Kind::Real
        } else if t.contains("blob") || t.contains("bytea") {
            Kind::Bytes
        } else {
            Kind::Text
        }
    }
}

/// Rows per table, as written or restored.
pub type TableCounts = BTreeMap<String, i64>;

impl BackupStore<'_> {
    async fn column_kinds(self, table: &str) -> Result<Vec<(String, Kind)>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            Backend::Postgres => {
                "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position"
            }
        };
        let columns: Vec<(String, String)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(table)
            .fetch_all(pool)
            .await)?;
        Ok(columns
            .into_iter()
            .map(|(name, declared)| (name, Kind::of_declared(&declared)))
            .collect())
    }

    /// Writes every data table to `out`: gzip'd JSON lines, encrypted when a passphrase is given.
    /// `uploads` is the directory the uploaded files live in (`uploads::uploads_dir`).
    pub async fn write_backup(
        self,
        out: impl Write + Send,
        now_ms: i64,
        passphrase: Option<&SecretString>,
        uploads: &Path,
    ) -> anyhow::Result<TableCounts> {
        self.write_backup_watched(out, now_ms, passphrase, uploads, &Progress::default())
            .await
    }

    /// [`Self::write_backup`], advancing `progress` a table at a time (the files count as
    /// one more).
    pub async fn write_backup_watched(
        self,
        out: impl Write + Send,
        now_ms: i64,
        passphrase: Option<&SecretString>,
        uploads: &Path,
        progress: &Progress,
    ) -> anyhow::Result<TableCounts> {
        match passphrase {
            Some(passphrase) => {
                let mut encrypted =
                    age::Encryptor::with_user_passphrase(passphrase.clone()).wrap_output(out)?;
                let counts = self
                    .write_gzip(&mut encrypted, now_ms, uploads, progress)
                    .await?;
                encrypted.finish()?.flush()?;
                Ok(counts)
            }
            None => self.write_gzip(out, now_ms, uploads, progress).await,
        }
    }

    /// The keys of every uploaded file a row refers to.
    async fn referenced_uploads(self) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT key FROM uploads UNION SELECT key FROM product_images ORDER BY 1"
        )
        .fetch_all(pool)
        .await)?)
    }

    async fn write_gzip(
        self,
        out: impl Write + Send,
        now_ms: i64,
        uploads: &Path,
        progress: &Progress,
    ) -> anyhow::Result<TableCounts> {
        progress.stage("writing", u64::try_from(DATA_TABLES.len() + 1).unwrap_or(0));
        let mut gz = GzEncoder::new(out, Compression::default());
        let header = Header {
            format: FORMAT.to_owned(),
            version: FORMAT_VERSION,
            created_at_ms: now_ms,
            migrations: self.applied_migrations().await?,
        };
        writeln!(gz, "{}", serde_json::to_string(&header)?)?;
        let mut counts = TableCounts::new();
        for table in DATA_TABLES {
            let columns = self.column_kinds(table).await?;
            let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
            writeln!(
                gz,
                "{}",
                serde_json::to_string(&TableStart {
                    table: (*table).to_owned(),
                    columns: names.clone()
                })?
            )?;
            // Table and column names come from our own schema, never from input.
            let sql = format!("SELECT {} FROM {table} ORDER BY 1", names.join(", "));
            let rows: Vec<Vec<Value>> = on_pool!(self, |pool| {
                let rows = sqlx::query(AssertSqlSafe(sql.clone()))
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        columns
                            .iter()
                            .enumerate()
                            .map(|(i, (_, kind))| {
                                Ok(match kind {
                                    Kind::Int => row
                                        .try_get::<Option<i64>, _>(i)?
                                        .map_or(Value::Null, Value::from),
                                    Kind::Real => row
                                        .try_get::<Option<f64>, _>(i)?
                                        .map_or(Value::Null, Value::from),
                                    Kind::Bool => row
                                        .try_get::<Option<bool>, _>(i)?
                                        .map_or(Value::Null, Value::from),
                                    Kind::Text => row
                                        .try_get::<Option<String>, _>(i)?
                                        .map_or(Value::Null, Value::from),
                                    Kind::Bytes => row
                                        .try_get::<Option<Vec<u8>>, _>(i)?
                                        .map_or(Value::Null, |b| Value::from(hex::encode(b))),
                                })
                            })
                            .collect::<Result<Vec<Value>, sqlx::Error>>()
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })?;
            for row in &rows {
                writeln!(gz, "{}", serde_json::to_string(row)?)?;
            }
            counts.insert((*table).to_owned(), i64::try_from(rows.len())?);
            progress.advance(1);
        }
        let mut files = 0;
        for key in self.referenced_uploads().await? {
            let path = uploads.join(&key);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                // A row whose file is gone (removed by hand) cannot be helped by failing the
                // backup: say so and go on.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(key, "uploaded file missing; backed up without it");
                    continue;
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("reading {}", path.display()));
                }
            };
            let entry = FileEntry {
                file: key,
                base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            };
            writeln!(gz, "{}", serde_json::to_string(&entry)?)?;
            files += 1;
        }
        counts.insert(FILES_COUNT.to_owned(), files);
        gz.finish()?.flush()?;
        Ok(counts)
    }

    /// Replaces all data with the backup read from `input`, in one transaction: either the
    /// whole backup is in, or nothing changed. Everyone is signed out afterwards.
    pub async fn restore_backup(
        self,
        input: impl std::io::Read,
        passphrase: Option<&SecretString>,
        uploads: &Path,
    ) -> anyhow::Result<TableCounts> {
        self.restore_backup_watched(input, passphrase, uploads, &Progress::default())
            .await
    }

    /// [`Self::restore_backup`], advancing `progress` through reading the file, restoring a
    /// table at a time and indexing the goods.
    pub async fn restore_backup_watched(
        self,
        input: impl std::io::Read,
        passphrase: Option<&SecretString>,
        uploads: &Path,
        progress: &Progress,
    ) -> anyhow::Result<TableCounts> {
        progress.stage("reading", 0);
        let parsed = read_possibly_encrypted(input, passphrase)?;
        // The files wait beside the uploads until the rows are in; dropping the stage (on any
        // error below) removes them.
        let stage = FileStage::write(uploads, &parsed.files)?;
        let applied = self.applied_migrations().await?;
        if parsed.header.migrations != applied {
            bail!(
                "the backup was made at schema versions {:?}, this database is at {:?}",
                parsed.header.migrations,
                applied
            );
        }
        let mut plans = Vec::new();
        for (table, columns, rows) in &parsed.tables {
            let kinds = self.column_kinds(table).await?;
            let mut column_kinds = Vec::new();
            for column in columns {
                let kind = kinds
                    .iter()
                    .find(|(n, _)| n == column)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| anyhow!("backup column {table}.{column} does not exist here"))?;
                column_kinds.push(kind);
            }
            let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                columns.join(", "),
                placeholders.join(", ")
            );
            plans.push((table.clone(), sql, column_kinds, rows));
        }
        let has_id: Vec<bool> = parsed
            .tables
            .iter()
            .map(|(_, columns, _)| columns.iter().any(|c| c == "id"))
            .collect();
        let backend = self.backend();
        progress.stage("restoring", u64::try_from(plans.len()).unwrap_or(0));
        let counts = in_tx!(self, |tx| {
            for table in EPHEMERAL_TABLES.iter().chain(DATA_TABLES.iter().rev()) {
                sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}")))
                    .execute(&mut *tx)
                    .await?;
            }
            let mut counts = TableCounts::new();
            for (index, (table, sql, kinds, rows)) in plans.iter().enumerate() {
                for row in rows.iter() {
                    let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
                    for (value, kind) in row.iter().zip(kinds.iter()) {
                        query = match (kind, value) {
                            (Kind::Int, v) => query.bind(v.as_i64()),
                            (Kind::Real, v) => query.bind(v.as_f64()),
                            (Kind::Bool, v) => {
                                query.bind(v.as_bool().or_else(|| v.as_i64().map(|i| i != 0)))
                            }
                            (Kind::Text, v) => query.bind(v.as_str().map(str::to_owned)),
                            (Kind::Bytes, v) => {
                                query.bind(v.as_str().and_then(|h| hex::decode(h).ok()))
                            }
                        };
                    }
                    query.execute(&mut *tx).await?;
                }
                // Identity columns do not move when ids are given explicitly: set them past
                // the restored ids so the next insert does not collide.
                if backend == Backend::Postgres && has_id.get(index).copied().unwrap_or(false) {
                    let reseed = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                    );
                    sqlx::query(AssertSqlSafe(reseed)).execute(&mut *tx).await?;
                }
                counts.insert(table.clone(), i64::try_from(rows.len()).unwrap_or(i64::MAX));
                progress.advance(1);
            }
            Ok::<_, StoreError>(counts)
        })?;
        self.changed(crate::store::Change::Everything).await;
        let mut counts = counts;
        counts.insert(FILES_COUNT.to_owned(), i64::try_from(parsed.files.len())?);
        stage.move_in(&self.referenced_uploads().await?)?;
        // The search index is derived from the restored products.
        progress.stage("indexing", 0);
        self.catalog().reindex_all().await?;
        Ok(counts)
    }
}

const AGE_HEADER: &[u8] = b"age-encryption.org/v1";

fn read_possibly_encrypted(
    input: impl std::io::Read,
    passphrase: Option<&SecretString>,
) -> anyhow::Result<ParsedBackup> {
    let mut input = BufReader::new(input);
    if !input.fill_buf()?.starts_with(AGE_HEADER) {
        return read_backup(input);
    }
    let passphrase = passphrase.ok_or_else(|| {
        anyhow!(
            "the backup is encrypted: set PIFA_BACKUP_PASSPHRASE to the passphrase it was made with"
        )
    })?;
    let decryptor = age::Decryptor::new_buffered(input).context("reading the encrypted backup")?;
    let identity = age::scrypt::Identity::new(passphrase.clone());
    let plain = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|err| anyhow!("cannot decrypt the backup (wrong passphrase?): {err}"))?;
    read_backup(plain)
}

struct ParsedBackup {
    header: Header,
    tables: Vec<(String, Vec<String>, Vec<Vec<Value>>)>,
    /// Uploaded files: key and bytes.
    files: Vec<(String, Vec<u8>)>,
}

/// Restored files written to a hidden directory inside `uploads`, not yet in place.
struct FileStage {
    uploads: PathBuf,
    dir: PathBuf,
    keys: Vec<String>,
}

impl FileStage {
    fn write(uploads: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<FileStage> {
        let dir = uploads.join(format!(
            ".restore-{}",
            crate::accounts::sessions::random_token()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let stage = FileStage {
            uploads: uploads.to_path_buf(),
            dir,
            keys: files.iter().map(|(key, _)| key.clone()).collect(),
        };
        for (key, bytes) in files {
            std::fs::write(stage.dir.join(key), bytes)
                .with_context(|| format!("writing restored file {key}"))?;
        }
        Ok(stage)
    }

    /// Moves the staged files into place (same file system: a rename each) and removes
    /// uploads that no restored row refers to.
    fn move_in(self, referenced: &[String]) -> anyhow::Result<()> {
        for key in &self.keys {
            std::fs::rename(self.dir.join(key), self.uploads.join(key))
                .with_context(|| format!("moving restored file {key} into place"))?;
        }
        let referenced: std::collections::HashSet<&str> =
            referenced.iter().map(String::as_str).collect();
        for entry in std::fs::read_dir(&self.uploads)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_file() && !referenced.contains(name.as_str()) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

impl Drop for FileStage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads and checks a whole backup before anything is written: an unknown table, a row of the
/// wrong width or a truncated file is refused with its line number.
fn read_backup(input: impl std::io::Read) -> anyhow::Result<ParsedBackup> {
    let mut lines = BufReader::new(GzDecoder::new(input)).lines();
    let first = lines
        .next()
        .ok_or_else(|| anyhow!("empty backup file"))?
        .context("reading backup (is it a pifa backup?)")?;
    let header: Header =
        serde_json::from_str(&first).context("line 1: not a pifa backup header")?;
    if header.format != FORMAT || !(1..=FORMAT_VERSION).contains(&header.version) {
        bail!(
            "line 1: unsupported backup format {} version {}",
            header.format,
            header.version
        );
    }
    let mut tables: Vec<(String, Vec<String>, Vec<Vec<Value>>)> = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line.with_context(|| format!("line {number}: unreadable (truncated file?)"))?;
        let value: Value =
            serde_json::from_str(&line).with_context(|| format!("line {number}: not JSON"))?;
        match value {
            Value::Array(row) => {
                let (table, columns, rows) = tables
                    .last_mut()
                    .ok_or_else(|| anyhow!("line {number}: row before any table"))?;
                if row.len() != columns.len() {
                    bail!(
                        "line {number}: {table} row has {} values for {} columns",
                        row.len(),
                        columns.len()
                    );
                }
                rows.push(row);
            }
            Value::Object(entry) if entry.contains_key("file") => {
                let entry: FileEntry = serde_json::from_value(Value::Object(entry))
                    .with_context(|| format!("line {number}: expected a file"))?;
                if !is_upload_key(&entry.file) {
                    bail!("line {number}: invalid file name {:?}", entry.file);
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&entry.base64)
                    .with_context(|| format!("line {number}: file {} is not base64", entry.file))?;
                files.push((entry.file, bytes));
            }
            other => {
                if !files.is_empty() {
                    bail!("line {number}: a table after the files");
                }
                let start: TableStart = serde_json::from_value(other)
                    .with_context(|| format!("line {number}: expected a table start"))?;
                if !DATA_TABLES.contains(&start.table.as_str()) {
                    bail!("line {number}: unknown table {}", start.table);
                }
                if start.columns.iter().any(|c| {
                    !c.starts_with(|ch: char| ch.is_ascii_lowercase())
                        || !c
                            .chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
                }) {
                    bail!("line {number}: invalid column name in {}", start.table);
                }
                tables.push((start.table, start.columns, Vec::new()));
            }
        }
    }
    let present: Vec<&str> = tables.iter().map(|(t, _, _)| t.as_str()).collect();
    if present != DATA_TABLES {
        bail!("the backup holds tables {present:?}, expected {DATA_TABLES:?} (incomplete file?)");
    }
    Ok(ParsedBackup {
        header,
        tables,
        files,
    })
}

const PLAIN_SUFFIX: &str = ".jsonl.gz";
const ENCRYPTED_SUFFIX: &str = ".jsonl.gz.age";

/// The timestamp part of a backup file's name: `pifa-<UTC timestamp>.jsonl.gz[.age]`.
fn backup_stamp(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("pifa-")?;
    let stamp = rest
        .strip_suffix(ENCRYPTED_SUFFIX)
        .or_else(|| rest.strip_suffix(PLAIN_SUFFIX))?;
    (!stamp.is_empty()
        && stamp
            .chars()
            .all(|c| c.is_ascii_digit() || c == 'T' || c == 'Z'))
    .then_some(stamp)
}

/// Only names of this exact form are backups, so a name from a URL can never point outside the
/// backups directory.
pub fn is_backup_name(name: &str) -> bool {
    backup_stamp(name).is_some()
}

pub fn backup_name(now_ms: i64, encrypted: bool) -> String {
    let stamp = crate::clock::rfc3339(now_ms).replace([':', '.', '-'], "");
    format!(
        "pifa-{stamp}{}",
        if encrypted {
            ENCRYPTED_SUFFIX
        } else {
            PLAIN_SUFFIX
        }
    )
}

/// Writes a backup into `dir`, via a temporary file renamed into place, so a crash never
/// leaves a half-written file under a backup's name.
pub async fn backup_to_dir(
    store: &Store,
    dir: &Path,
    uploads: &Path,
    now_ms: i64,
    passphrase: Option<&SecretString>,
    progress: &Progress,
) -> anyhow::Result<(PathBuf, TableCounts)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = backup_name(now_ms, passphrase.is_some());
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let counts = store
        .backups()
        .write_backup_watched(
            std::io::BufWriter::new(&file),
            now_ms,
            passphrase,
            uploads,
            progress,
        )
        .await?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)?;
    Ok((path, counts))
}

/// Keeps the newest `keep` backups in `dir`, deleting older ones.
pub fn prune_backups(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let mut names = list_backups(dir)?
        .into_iter()
        .map(|b| b.name)
        .collect::<Vec<_>>();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in names.iter().take(excess) {
        std::fs::remove_file(dir.join(name))?;
    }
    Ok(())
}

/// Makes a backup when the settings ask for scheduled backups and the last one (`last_ms`, or
/// else the newest file's timestamp) is at least the interval old; keeps the newest
/// `backups_kept`. Returns the time of the newest scheduled backup.
pub async fn run_schedule(
    store: &Store,
    dir: &Path,
    uploads: &Path,
    now_ms: i64,
    last_ms: Option<i64>,
    passphrase: Option<&SecretString>,
) -> anyhow::Result<Option<i64>> {
    let settings = store.settings().current().await?;
    let Some(hours) = settings.backup_interval_hours else {
        return Ok(last_ms);
    };
    let last = match last_ms {
        Some(ms) => Some(ms),
        None => list_backups(dir)?
            .first()
            .and_then(|b| name_time_ms(&b.name)),
    };
    if last.is_some_and(|ms| now_ms - ms < hours * 3_600_000) {
        return Ok(last);
    }
    let (path, counts) = backup_to_dir(
        store,
        dir,
        uploads,
        now_ms,
        passphrase,
        &Progress::default(),
    )
    .await?;
    prune_backups(dir, usize::try_from(settings.backups_kept).unwrap_or(1))?;
    tracing::info!(path = %path.display(), users = counts.get("users").copied().unwrap_or(0), "scheduled backup written");
    Ok(Some(now_ms))
}

/// The time a backup was made, from its name (`pifa-20261122T031416123Z.jsonl.gz`).
fn name_time_ms(name: &str) -> Option<i64> {
    let stamp = backup_stamp(name)?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let num = |s: Option<&str>| s.and_then(|v| v.parse::<i64>().ok());
    let (y, m, d) = (
        num(date.get(0..4))?,
        num(date.get(4..6))?,
        num(date.get(6..8))?,
    );
    let (hh, mm, ss, ms) = (
        num(time.get(0..2))?,
        num(time.get(2..4))?,
        num(time.get(4..6))?,
        num(time.get(6..9))?,
    );
    Some(
        crate::clock::days_from_civil(y, m, d) * 86_400_000
            + ((hh * 60 + mm) * 60 + ss) * 1000
            + ms,
    )
}

/// A backup file on disk.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupFile {
    pub name: String,
    pub size_bytes: u64,
}

pub fn list_backups(dir: &Path) -> anyhow::Result<Vec<BackupFile>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(err) => return Err(err.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_backup_name(&name) {
            files.push(BackupFile {
                name,
                size_bytes: entry.metadata()?.len(),
            });
        }
    }
    files.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_cannot_escape_the_directory() {
        let name = backup_name(1_795_317_256_123, false);
        assert_eq!(name, "pifa-20261122T031416123Z.jsonl.gz");
        assert!(is_backup_name(&name));
        assert_eq!(name_time_ms(&name), Some(1_795_317_256_123));
        let encrypted = backup_name(1_795_317_256_123, true);
        assert_eq!(encrypted, "pifa-20261122T031416123Z.jsonl.gz.age");
        assert_eq!(name_time_ms(&encrypted), Some(1_795_317_256_123));
        for bad in [
            "../pifa.db",
            "pifa-../../etc.jsonl.gz",
            "pifa-.jsonl.gz",
            "x.jsonl.gz",
            "pifa-1/2.jsonl.gz",
        ] {
            assert!(!is_backup_name(bad), "{bad}");
        }
    }
}

pub mod http {
    //! The admin API for backups: make one, list them, download one, restore one.

    use axum::Json;
    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::Response;
    use serde::Serialize;
    use utoipa::ToSchema;

    use super::{
        BackupFile, ENCRYPTED_SUFFIX, TableCounts, backup_to_dir, is_backup_name, list_backups,
    };
    use crate::accounts::audit::Operation;
    use crate::accounts::permissions::{Actor, Permission};
    use crate::accounts::sessions::ClientInfo;
    use crate::edge::extract::Path;
    use crate::error::{ApiError, ApiResult};
    use crate::jobs::Progress;
    use crate::shop::Shop;

    #[derive(Serialize, ToSchema)]
    pub struct BackupMade {
        pub name: String,
        pub size_bytes: u64,
        /// Rows written per table.
        pub tables: TableCounts,
    }

    /// Make a backup now (admin).
    #[utoipa::path(post, path = "/admin/backups", tag = "backups", responses((status = 201, body = BackupMade)), security(("bearer" = [])))]
    pub async fn create(
        State(app): State<Shop>,
        actor: Actor,
        client: ClientInfo,
    ) -> ApiResult<(StatusCode, Json<BackupMade>)> {
        let made = make(&app, &actor, &client, &Progress::default()).await?;
        Ok((StatusCode::CREATED, Json(made)))
    }

    /// Writes a backup into the backups directory and logs who made it: what the API's
    /// `create` answers with and the back office's backup job does.
    pub async fn make(
        app: &Shop,
        actor: &Actor,
        client: &ClientInfo,
        progress: &Progress,
    ) -> ApiResult<BackupMade> {
        actor.require(Permission::ManageBackups)?;
        let now = app.clock.now_ms();
        let (path, tables) = backup_to_dir(
            &app.store,
            &app.config.backups_dir(),
            &app.config.uploads_dir(),
            now,
            app.config.backup_passphrase.as_ref(),
            progress,
        )
        .await
        .map_err(ApiError::internal)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size_bytes = std::fs::metadata(&path).map_err(ApiError::internal)?.len();
        app.store
            .accounts()
            .log_operation(
                Operation {
                    actor_id: Some(actor.user_id),
                    action: "backup.create",
                    target_kind: "backup",
                    target_id: Some(name.clone()),
                    detail: serde_json::json!({ "tables": tables }),
                },
                client,
                now,
            )
            .await?;
        Ok(BackupMade {
            name,
            size_bytes,
            tables,
        })
    }

    /// The backups on disk, newest first (admin).
    #[utoipa::path(get, path = "/admin/backups", tag = "backups", responses((status = 200, body = [BackupFile])), security(("bearer" = [])))]
    pub async fn list(State(app): State<Shop>, actor: Actor) -> ApiResult<Json<Vec<BackupFile>>> {
        actor.require(Permission::ManageBackups)?;
        Ok(Json(
            list_backups(&app.config.backups_dir()).map_err(ApiError::internal)?,
        ))
    }

    fn backup_path(app: &Shop, name: &str) -> ApiResult<std::path::PathBuf> {
        let path = app.config.backups_dir().join(name);
        if !is_backup_name(name) || !path.is_file() {
            return Err(ApiError::not_found());
        }
        Ok(path)
    }

    /// Download a backup file (admin).
    #[utoipa::path(get, path = "/admin/backups/{name}", tag = "backups", params(("name" = String, Path)),
        responses((status = 200, description = "The backup file: gzip'd JSON lines (`application/gzip`), or age-encrypted when a passphrase is set (`application/octet-stream`)", content((Vec<u8> = "application/gzip"), (Vec<u8> = "application/octet-stream")))), security(("bearer" = [])))]
    pub async fn download(
        State(app): State<Shop>,
        actor: Actor,
        Path(name): Path<String>,
    ) -> ApiResult<Response> {
        actor.require(Permission::ManageBackups)?;
        let bytes = tokio::fs::read(backup_path(&app, &name)?)
            .await
            .map_err(ApiError::internal)?;
        Response::builder()
            .header(
                header::CONTENT_TYPE,
                if name.ends_with(ENCRYPTED_SUFFIX) {
                    "application/octet-stream"
                } else {
                    "application/gzip"
                },
            )
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            )
            .body(Body::from(bytes))
            .map_err(ApiError::internal)
    }

    #[derive(Serialize, ToSchema)]
    pub struct Restored {
        /// Rows restored per table.
        pub tables: TableCounts,
    }

    /// Replace all data with a backup (admin). All-or-nothing; every session ends, the
    /// caller's included.
    #[utoipa::path(post, path = "/admin/backups/{name}/restore", tag = "backups", params(("name" = String, Path)),
        responses((status = 200, body = Restored), (status = 422, description = "`backup_invalid`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
    pub async fn restore(
        State(app): State<Shop>,
        actor: Actor,
        client: ClientInfo,
        Path(name): Path<String>,
    ) -> ApiResult<Json<Restored>> {
        restore_named(&app, &actor, &client, name, &Progress::default())
            .await
            .map(Json)
    }

    /// Replaces all data with the backup `name` and logs who did: what the API's `restore`
    /// answers with and the back office's restore job does.
    pub async fn restore_named(
        app: &Shop,
        actor: &Actor,
        client: &ClientInfo,
        name: String,
        progress: &Progress,
    ) -> ApiResult<Restored> {
        actor.require(Permission::ManageBackups)?;
        let file = std::fs::File::open(backup_path(app, &name)?).map_err(ApiError::internal)?;
        let tables = app
            .store
            .backups()
            .restore_backup_watched(
                file,
                app.config.backup_passphrase.as_ref(),
                &app.config.uploads_dir(),
                progress,
            )
            .await
            .map_err(|err| {
                ApiError::invalid_field(
                    "backup_invalid",
                    "name",
                    format!("无法恢复该备份 (cannot restore: {err:#})"),
                )
            })?;
        let now = app.clock.now_ms();
        app.store
            .accounts()
            .log_operation(
                Operation {
                    actor_id: None,
                    action: "backup.restore",
                    target_kind: "backup",
                    target_id: Some(name),
                    detail: serde_json::json!({ "by": actor.user_id, "tables": tables }),
                },
                client,
                now,
            )
            .await?;
        Ok(Restored { tables })
    }
}

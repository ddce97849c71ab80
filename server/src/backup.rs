//! `connector-server backup` and `restore` for SQLite: an online copy of the database (the
//! SQLite backup API, consistent while the server runs) with the key files beside it, and
//! the way back, which checks that the keys open the data before anything is replaced.
//! PostgreSQL has its own tools (pg_dump, pg_restore); the keys then live in the secret store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::config::Config;
use crate::domain::{HashKey, Keyring};
use crate::store::{self, Database};

/// What to say instead of backing up a PostgreSQL database.
const PG_BACKUP: &str = "backup copies the SQLite database; for PostgreSQL use its own tool: \
    `pg_dump --format=custom --file=connector.dump \"$DATABASE_URL\"`, with the keys \
    (CONNECTOR_HASH_KEY, CONNECTOR_ENCRYPTION_KEYS) kept in your secret store (see docs/deploy.md)";
const PG_RESTORE: &str = "restore writes an SQLite database; for PostgreSQL use its own tool: \
    `pg_restore --clean --if-exists --dbname=\"$DATABASE_URL\" connector.dump`, then start the \
    server with the keys the dump was made with (see docs/deploy.md)";

/// `path` with `suffix` appended to its file name (`a.sqlite` → `a.sqlite.keys`).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Where a backup's hash key file and encryption key file go: beside it, named as the
/// server names its own beside its database.
pub fn key_files_of(backup: &Path) -> (PathBuf, PathBuf) {
    (beside(backup, ".key"), beside(backup, ".keys"))
}

/// Copies every page of `from` into `to` in one step: one read transaction, so the copy is
/// one consistent moment of a database other processes go on writing (WAL lets them).
fn copy_pages(from: &Connection, to: &mut Connection) -> Result<()> {
    let backup = Backup::new(from, to)?;
    for _ in 0..100 {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            // More (cannot be after -1), Busy, Locked: another connection holds a lock.
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    bail!("the database stayed locked for 5 s")
}

/// Creates `path` readable by its owner only (never wider, not even for a moment).
fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An existing file keeps its mode through open(): narrow it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut file = create_private(path)?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()?;
    Ok(())
}

/// Removes `db` and its WAL and shared-memory files, if there.
fn remove_database(db: &Path) -> Result<()> {
    for path in [db.to_path_buf(), beside(db, "-wal"), beside(db, "-shm")] {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `connector-server backup --to FILE`: the database the flags name, copied while the
/// server runs, and its key files (when they are files) beside the copy.
pub fn backup(config: &Config, to: &Path, force: bool) -> Result<()> {
    if config.database_url.is_some() {
        bail!("{PG_BACKUP}");
    }
    let db = &config.db;
    if !db.exists() {
        bail!("database {} does not exist (--db)", db.display());
    }
    let (hash_to, ring_to) = key_files_of(to);
    for path in [to, &hash_to, &ring_to] {
        if path.exists() && !force {
            bail!("{} exists; give --force to replace it", path.display());
        }
    }
    // Read-write without create: a missing file is not made, and a WAL database is read
    // through its shared memory like any other connection.
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("cannot open database {}", db.display()))?;
    source.busy_timeout(Duration::from_secs(5))?;
    remove_database(to)?;
    drop(create_private(to)?);
    let mut copy = Connection::open(to)?;
    copy_pages(&source, &mut copy)
        .with_context(|| format!("cannot back up {} to {}", db.display(), to.display()))?;
    let connections: i64 = copy.query_row("SELECT count(*) FROM connections", [], |r| r.get(0))?;
    drop(copy);
    println!(
        "backed up {} to {} (connections: {connections})",
        db.display(),
        to.display()
    );
    let keys = [
        (
            "hash key",
            config.hash_key.is_some(),
            "CONNECTOR_HASH_KEY",
            config.key_path(),
            hash_to,
        ),
        (
            "encryption keys",
            config.encryption_keys.is_some(),
            "CONNECTOR_ENCRYPTION_KEYS",
            config.encryption_key_path(),
            ring_to,
        ),
    ];
    for (what, inline, var, from, to) in keys {
        if inline {
            println!("the {what} is given in {var}, not in a file: not copied; the backup needs it, keep it in your secret store");
        } else if from.exists() {
            let text = std::fs::read_to_string(&from)
                .with_context(|| format!("cannot read the {what} file {}", from.display()))?;
            write_private(&to, &text)?;
            println!(
                "copied the {what} file {} to {}",
                from.display(),
                to.display()
            );
        } else {
            println!("warning: the {what} file {} does not exist: the backup cannot be read without the {what} it was made with", from.display());
        }
    }
    Ok(())
}

/// A key for the restore: the configured one, else the backup's copy (then put in place).
struct Found<T> {
    key: T,
    /// The backup's key file text to write at the server's key path, when that was missing.
    install: Option<(PathBuf, String)>,
}

fn find_key<T>(
    what: &str,
    inline: Option<&str>,
    path: PathBuf,
    in_backup: &Path,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<Found<T>> {
    if let Some(text) = inline {
        return Ok(Found {
            key: parse(text)?,
            install: None,
        });
    }
    let (source, install) = if path.exists() {
        (path.clone(), false)
    } else if in_backup.exists() {
        (in_backup.to_path_buf(), true)
    } else {
        bail!(
            "no {what}: {} does not exist and the backup has no {} beside it; give the {what} the backup was made with",
            path.display(),
            in_backup.display()
        );
    };
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("cannot read the {what} file {}", source.display()))?;
    let key = parse(&text).with_context(|| format!("the {what} file {}", source.display()))?;
    Ok(Found {
        key,
        install: install.then_some((path, text)),
    })
}

/// `connector-server restore --from FILE [--db PATH]`: the backup, checked against the keys
/// (the configured ones, else the key files beside the backup), put at `db` (default: the
/// server's --db). An existing database is replaced only with `force`; nothing is written
/// unless the keys open the data. Run it with the server stopped.
pub async fn restore(config: &Config, from: &Path, db: Option<PathBuf>, force: bool) -> Result<()> {
    if config.database_url.is_some() {
        bail!("{PG_RESTORE}");
    }
    let mut target = config.clone();
    if let Some(db) = db {
        target.db = db;
    }
    let db = target.db.clone();
    if !from.is_file() {
        bail!("backup {} does not exist", from.display());
    }
    if db.exists() && !force {
        bail!(
            "database {} exists; restore does not overwrite it unless --force (stop the server first)",
            db.display()
        );
    }
    let (hash_in_backup, ring_in_backup) = key_files_of(from);
    let hash = find_key(
        "hash key",
        target.hash_key.as_deref(),
        target.key_path(),
        &hash_in_backup,
        HashKey::from_hex,
    )?;
    let ring = find_key(
        "encryption keys",
        target.encryption_keys.as_deref(),
        target.encryption_key_path(),
        &ring_in_backup,
        Keyring::parse,
    )?;

    // Restored beside its place first, checked there, then moved in.
    let staged = beside(&db, ".restoring");
    remove_database(&staged)?;
    if let Some(dir) = staged.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let connections = {
        let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .with_context(|| format!("cannot open backup {}", from.display()))?;
        drop(create_private(&staged)?);
        let mut copy = Connection::open(&staged)?;
        copy_pages(&source, &mut copy)
            .with_context(|| format!("cannot read backup {}", from.display()))?;
        copy.query_row("SELECT count(*) FROM connections", [], |r| {
            r.get::<_, i64>(0)
        })
        .with_context(|| format!("backup {} is not a connector database", from.display()))?
    };
    let checked = check_keys(&staged, &hash.key, &ring.key).await;
    if let Err(e) = checked {
        remove_database(&staged)?;
        return Err(e.context(format!(
            "the keys do not open the data of backup {} (nothing was restored)",
            from.display()
        )));
    }
    // The store's connection closes on its own thread: its WAL is folded in and removed then.
    let wal = beside(&staged, "-wal");
    for _ in 0..100 {
        if !wal.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if wal.exists() {
        bail!(
            "the checked copy {} is still open after 5 s",
            staged.display()
        );
    }
    // A stale WAL of the replaced database would be replayed into the restored one.
    remove_database(&db)?;
    let _ = std::fs::remove_file(beside(&staged, "-shm"));
    std::fs::rename(&staged, &db)
        .with_context(|| format!("cannot move {} to {}", staged.display(), db.display()))?;
    println!(
        "restored {} to {} (connections: {connections}); the keys open its data",
        from.display(),
        db.display()
    );
    for (path, text) in [hash.install, ring.install].into_iter().flatten() {
        write_private(&path, &text)?;
        println!(
            "copied the key file beside the backup to {}",
            path.display()
        );
    }
    Ok(())
}

/// What the server checks at start, on the staged copy: the keys are the ones the data was
/// made with, and every sealed webhook URL opens (those sealed with an older key are sealed
/// again with the current one, as a start would).
async fn check_keys(staged: &Path, hash: &HashKey, ring: &Keyring) -> Result<()> {
    let stores = store::open_beside_server(&Database::Sqlite(staged.to_path_buf()), ring.clone())
        .await
        .with_context(|| format!("cannot open {}", staged.display()))?;
    crate::store::check_keys(stores.connections.as_ref(), hash, ring).await?;
    stores
        .connections
        .reseal()
        .await
        .context("a webhook url does not open with these encryption keys")?;
    Ok(())
}

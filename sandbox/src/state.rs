//! The state file: the whole world plus live credentials, as one JSON document.
//!
//! Saved on stop (to a temporary file renamed into place, so a crash mid-write never leaves
//! half a world; mode 0600 from its creation, since it holds live tokens), loaded on start.
//! The sandbox clock offset is saved too, so time a test advanced is not given back by a
//! restart.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::oauth::Auth;
use super::world::World;

const VERSION: u32 = 1;

#[derive(Deserialize)]
pub(crate) struct Saved {
    pub version: u32,
    /// Sandbox-clock seconds at save time: the start of the activity to simulate on load.
    pub saved_at: i64,
    pub clock_offset_ms: i64,
    pub world: World,
    pub auth: Auth,
}

/// The same document as `Saved`, borrowed, so saving a million rows copies none of them.
#[derive(Serialize)]
struct SavedRef<'a> {
    version: u32,
    saved_at: i64,
    clock_offset_ms: i64,
    world: &'a World,
    auth: &'a Auth,
}

pub(crate) fn save(
    path: &Path,
    saved_at: i64,
    clock_offset_ms: i64,
    world: &World,
    auth: &Auth,
) -> anyhow::Result<()> {
    let saved = SavedRef {
        version: VERSION,
        saved_at,
        clock_offset_ms,
        world,
        auth,
    };
    let tmp = path.with_extension("tmp");
    let file = create_private(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut w, &saved).context("cannot encode the sandbox state")?;
    std::io::Write::flush(&mut w)?;
    drop(w);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Create (or truncate) `path` readable by its owner only. The mode is set on the handle too:
/// a temporary file left by an older release keeps its mode when merely reopened.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Loads a state file; Ok(None) when there is none yet (first start).
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<Saved>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut saved: Saved = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a sandbox state file; delete it to start fresh",
            path.display()
        )
    })?;
    anyhow::ensure!(
        saved.version == VERSION,
        "{} has state version {}, this sandbox reads {VERSION}; delete it to start fresh",
        path.display(),
        saved.version
    );
    saved.world.reindex();
    Ok(Some(saved))
}

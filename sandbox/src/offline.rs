//! The sandbox's world without a server: read it, or move its clock, through the state file
//! alone. This is what lets a demo have "an hour later" at once (`advance`), and a working
//! folder be set up with files that match the world it will meet (`invoices`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use super::oauth::Auth;
use super::simulate::Activity;
use super::world::{Doc, World};
use super::{seed, state, SandboxConfig};

/// What `advance` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advanced {
    /// The activity simulated for the time that passed.
    pub activity: Activity,
    /// The sandbox's clock afterwards.
    pub now: chrono::DateTime<chrono::Utc>,
    /// Whether the state file was created (the world seeded) rather than read.
    pub created: bool,
}

/// The world as a sandbox started with `config` would begin: its state file when there is
/// one, else freshly seeded (the activity a start simulates for the time since the last save
/// is not included).
fn world_of(config: &SandboxConfig) -> anyhow::Result<Option<state::Saved>> {
    match &config.state_path {
        Some(path) => state::load(path),
        None => Ok(None),
    }
}

/// Every invoice of the world a sandbox started with `config` would serve first, in id order.
pub fn invoices(config: &SandboxConfig) -> anyhow::Result<Vec<Doc>> {
    let world = match world_of(config)? {
        Some(saved) => saved.world,
        None => seed::seed(config.seed, config.items),
    };
    Ok(world.invoices.rows.clone())
}

/// Moves the clock of the sandbox whose world is in `config.state_path` forward by `by`, and
/// simulates the activity of the time that passed, as a sandbox started then would. The next
/// sandbox started on the file continues from there. Without a state file the world is seeded
/// first, as at a first start.
///
/// No sandbox may be running on the file meanwhile: it would save its own world over this one
/// when it stops.
pub fn advance(config: &SandboxConfig, by: Duration) -> anyhow::Result<Advanced> {
    let path: &Path = config
        .state_path
        .as_deref()
        .context("the sandbox has no state file to advance")?;
    let wall = chrono::Utc::now().timestamp_millis();
    let by_ms = i64::try_from(by.as_millis()).context("too far to advance")?;
    let (mut world, auth, saved_at, offset, created): (World, Auth, i64, i64, bool) =
        match state::load(path)? {
            Some(s) => (s.world, s.auth, s.saved_at, s.clock_offset_ms, false),
            None => {
                let world = seed::seed(config.seed, config.items);
                // A first start saves at its own now: the advance is all that passes.
                (world, Auth::default(), wall.div_euclid(1000), 0, true)
            }
        };
    let offset = offset
        .checked_add(by_ms)
        .context("too far to advance the sandbox clock")?;
    let now = (wall + offset).div_euclid(1000);
    // Exactly what a start does with a saved world (lib.rs): catch up, and raise no events
    // for subscribers that could not have been listening.
    let activity = world.simulate(now - saved_at, now);
    world.outbox.clear();
    state::save(path, now, offset, &world, &auth)?;
    Ok(Advanced {
        activity,
        now: chrono::DateTime::from_timestamp(now, 0).unwrap_or_default(),
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> SandboxConfig {
        SandboxConfig {
            items: 10,
            state_path: Some(dir.join("state.json")),
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn invoices_without_a_state_file_are_the_seeded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let seeded = seed::seed(config.seed, config.items).invoices.rows;
        assert_eq!(invoices(&config).unwrap(), seeded);
        assert!(!dir.path().join("state.json").exists());
    }

    #[test]
    fn advancing_moves_the_clock_and_simulates_what_passed() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let before = chrono::Utc::now();
        let first = advance(&config, Duration::from_secs(3 * 3600)).unwrap();
        assert!(first.created);
        assert!(first.now.timestamp() >= before.timestamp() + 3 * 3600);
        assert!(first.activity.stock_moves > 0, "{:?}", first.activity);
        assert!(first.activity.invoices_created > 0, "{:?}", first.activity);
        let saved = state::load(&config.state_path.clone().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(saved.saved_at, first.now.timestamp());
        assert_eq!(
            saved.world.invoices.rows.len(),
            invoices(&config).unwrap().len()
        );
        let second = advance(&config, Duration::from_secs(3600)).unwrap();
        assert!(!second.created);
        assert!(second.now.timestamp() >= first.now.timestamp() + 3600);
        let saved = state::load(&config.state_path.clone().unwrap())
            .unwrap()
            .unwrap();
        assert!(saved.clock_offset_ms >= 4 * 3600 * 1000);
    }
}

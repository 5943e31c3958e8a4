//! What the domain's handlers share: the database, the clock and the configuration. The
//! assembly's `AppState` holds one and adds the hosts (scripts, plugins, providers) and the
//! order pipeline; a handler asks for the parts it needs (`State<Shop>`, `State<Pipeline>`,
//! `State<Hasher>`), so nothing in the domain names the hosts or the state that holds them.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

/// Cheap to clone: each part is a handle.
#[derive(Clone)]
pub struct Shop {
    pub store: Store,
    pub clock: Clock,
    pub config: Arc<Config>,
}

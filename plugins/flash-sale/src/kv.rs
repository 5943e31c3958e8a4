//! The plugin's storage as a trait, so every handler runs natively in unit tests against a
//! map, and only `HostKv` touches the kernel's imports (which exist on wasm32 alone).

/// The slice of `pifa:plugin/kv` this plugin uses; the semantics are the host's.
pub trait Kv {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)>;
    fn counter(&self, key: &str) -> i64;
    /// The counter's new value, or `None` (and no change) when it would leave [`min`, `max`].
    fn add_bounded(
        &mut self,
        key: &str,
        delta: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, String>;
}

/// The kernel's kv, through the SDK's imports.
#[cfg(target_arch = "wasm32")]
pub struct HostKv;

#[cfg(target_arch = "wasm32")]
impl Kv for HostKv {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        pifa_sdk::host::kv::get(key)
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        pifa_sdk::host::kv::put(key, value)
    }
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        pifa_sdk::host::kv::scan(prefix, start_after, limit)
    }
    fn counter(&self, key: &str) -> i64 {
        pifa_sdk::host::kv::counter(key)
    }
    fn add_bounded(
        &mut self,
        key: &str,
        delta: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, String> {
        pifa_sdk::host::kv::add_bounded(key, delta, min, max)
    }
}

/// The host's semantics over two maps, for the unit tests.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryKv {
    pub values: std::collections::BTreeMap<String, Vec<u8>>,
    pub counters: std::collections::BTreeMap<String, i64>,
}

#[cfg(test)]
impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.values.get(key).cloned()
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.values.insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        self.values
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| start_after.is_none_or(|after| key.as_str() > after))
            .take(limit as usize)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
    fn counter(&self, key: &str) -> i64 {
        self.counters.get(key).copied().unwrap_or(0)
    }
    fn add_bounded(
        &mut self,
        key: &str,
        delta: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, String> {
        let current = self.counter(key);
        match current.checked_add(delta) {
            Some(next) if (min..=max).contains(&next) => {
                self.counters.insert(key.to_owned(), next);
                Ok(Some(next))
            }
            _ => Ok(None),
        }
    }
}

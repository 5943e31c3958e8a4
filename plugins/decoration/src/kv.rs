//! The plugin's storage as a trait, so every handler runs natively in unit tests against a
//! map, and only `HostKv` touches the kernel's imports (which exist on wasm32 alone).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The slice of `pifa:plugin/kv` this plugin uses; the semantics are the host's (writes are
/// buffered and read back within the call, and committed only when the route answers 2xx).
pub trait Kv {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    fn delete(&mut self, key: &str) -> Result<(), String>;
    /// Up to `limit` entries whose key starts with `prefix`, in key order, after `start_after`.
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)>;
}

/// A JSON value; `None` when absent or not of type `T`.
pub fn get_json<T: DeserializeOwned>(kv: &impl Kv, key: &str) -> Option<T> {
    kv.get(key)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

pub fn put_json<T: Serialize>(kv: &mut impl Kv, key: &str, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    kv.put(key, &bytes)
}

/// Every key starting with `prefix`, in order, read a page at a time (the values are not
/// kept: callers that want the keys alone pay no parsing for them).
pub fn keys(kv: &impl Kv, prefix: &str, page: u32, most: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    loop {
        let batch = kv.scan(prefix, keys.last().map(String::as_str), page);
        let full = batch.len() >= page as usize;
        keys.extend(batch.into_iter().map(|(key, _)| key));
        if !full || keys.len() >= most {
            keys.truncate(most);
            return keys;
        }
    }
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
    fn delete(&mut self, key: &str) -> Result<(), String> {
        pifa_sdk::host::kv::delete(key)
    }
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        pifa_sdk::host::kv::scan(prefix, start_after, limit)
    }
}

/// The host's semantics over a map, for the unit tests; `writes_left` plays the per-call
/// write quota (`kv_writes_per_call`).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryKv {
    pub values: std::collections::BTreeMap<String, Vec<u8>>,
    pub writes_left: Option<usize>,
}

#[cfg(test)]
impl MemoryKv {
    fn spend_write(&mut self) -> Result<(), String> {
        match &mut self.writes_left {
            Some(0) => Err("quota kv_writes_per_call (100) reached".to_owned()),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.values.get(key).cloned()
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.spend_write()?;
        self.values.insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&mut self, key: &str) -> Result<(), String> {
        self.spend_write()?;
        self.values.remove(key);
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
}

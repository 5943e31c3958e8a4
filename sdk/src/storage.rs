//! The plugin's storage and outbox as traits, so a plugin's logic runs natively in its unit
//! tests against [`MemoryKv`] and only [`HostKv`] touches the kernel's imports (which exist on
//! wasm32 alone). Write handlers over `&mut impl Kv` (and `impl Emit` where they announce
//! something), bind them to `HostKv` in the `Plugin` impl, and test them against `MemoryKv`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `pifa:plugin/kv`; the semantics are the host's: in `quote` and `checkout` reads only (a
/// write is refused); in `on-event`, `on-tick` and `handle-http` writes are buffered, read back
/// within the call, and committed with the event's delivery record or the route's 2xx answer.
/// A counter moved with [`Kv::add_bounded`] stays within its bounds at commit too, so two
/// concurrent calls cannot both take the last unit.
pub trait Kv {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    fn delete(&mut self, key: &str) -> Result<(), String>;
    /// Up to `limit` entries whose key starts with `prefix`, in key order, after `start_after`.
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

    /// A JSON value; `None` when absent or not of type `T`.
    fn get_json<T: DeserializeOwned>(&self, key: &str) -> Option<T>
    where
        Self: Sized,
    {
        self.get(key)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    }

    fn put_json<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), String>
    where
        Self: Sized,
    {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.put(key, &bytes)
    }

    /// Every entry whose key starts with `prefix`, in key order, read `page` at a time, at most
    /// `most` of them, parsed as `T` (entries that do not parse are left out).
    fn scan_json<T: DeserializeOwned>(
        &self,
        prefix: &str,
        page: u32,
        most: usize,
    ) -> Vec<(String, T)>
    where
        Self: Sized,
    {
        let mut found: Vec<(String, T)> = Vec::new();
        let mut after: Option<String> = None;
        let page = page.max(1);
        loop {
            let batch = self.scan(prefix, after.as_deref(), page);
            let full = batch.len() >= page as usize;
            after = batch.last().map(|(key, _)| key.clone());
            found.extend(batch.into_iter().filter_map(|(key, bytes)| {
                serde_json::from_slice(&bytes)
                    .ok()
                    .map(|value| (key, value))
            }));
            if !full || found.len() >= most || after.is_none() {
                found.truncate(most);
                return found;
            }
        }
    }

    /// Every key starting with `prefix`, in order, read `page` at a time, at most `most` (the
    /// values are not parsed: callers wanting the keys alone pay nothing for them).
    fn keys(&self, prefix: &str, page: u32, most: usize) -> Vec<String>
    where
        Self: Sized,
    {
        let mut keys: Vec<String> = Vec::new();
        let page = page.max(1);
        loop {
            let batch = self.scan(prefix, keys.last().map(String::as_str), page);
            let full = batch.len() >= page as usize;
            keys.extend(batch.into_iter().map(|(key, _)| key));
            if !full || keys.len() >= most {
                keys.truncate(most);
                return keys;
            }
        }
    }

    /// The next number of the sequence kept in counter `key` (1, 2, …): ids for records.
    ///
    /// Safe under concurrency: the counter must still hold what this call read when its
    /// writes commit (the move is bounded to exactly one more), so of two calls racing for
    /// the same number one commits and the other's whole call is refused (a route answers
    /// 409 `changed_meanwhile`; an event is retried) instead of both storing records under
    /// one id. `None` → an error when the sequence is exhausted.
    fn next_id(&mut self, key: &str) -> Result<i64, String>
    where
        Self: Sized,
    {
        let current = self.counter(key);
        let next = current
            .checked_add(1)
            .ok_or_else(|| format!("the sequence {key} is exhausted"))?;
        self.add_bounded(key, 1, next, next)?
            .ok_or_else(|| format!("the sequence {key} moved meanwhile"))
    }
}

/// The event kind that closes an order, whoever closed it: its reservations go back.
pub const ORDER_CLOSED: &str = "order.closed";

/// Gives a closed order's checkout reservations back to their counters (an `order.closed`
/// event; any other kind is left alone). The kernel delivers each event's effects once.
/// Returns the keys whose counter held less than the order took, left as they were: that
/// cannot happen unless a counter was changed by hand, and staff should hear of it.
pub fn return_reservations(
    kv: &mut impl Kv,
    event: &crate::Event,
) -> Result<Vec<String>, crate::HookError> {
    let mut short = Vec::new();
    if event.kind != ORDER_CLOSED {
        return Ok(short);
    }
    for reserved in &event.reservations {
        let Some(give_back) = reserved.delta.checked_neg() else {
            short.push(reserved.key.clone());
            continue;
        };
        let returned = kv
            .add_bounded(&reserved.key, give_back, 0, i64::MAX)
            .map_err(|message| crate::HookError::new("kv_failed", message))?;
        if returned.is_none() {
            short.push(reserved.key.clone());
        }
    }
    Ok(short)
}

/// `pifa:plugin/emit` (capability `emit`): an event into the shop's outbox, committed with
/// the call's storage writes (a route's 2xx answer, an event's delivery, a tick), or not at
/// all. Its kind becomes `plugin.<name>.<kind>`: the notification rules script sees it (and
/// tells `member_id`, when the payload names one, what the script says), and so does every
/// plugin `plugins.toml` grants that kind.
pub trait Emit {
    fn emit(&mut self, kind: &str, payload: &Value) -> Result<(), String>;
}

/// The kernel's kv and outbox, through the imports (granted capabilities only: calling one
/// that is not granted cannot happen, a plugin importing it does not load).
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Default)]
pub struct HostKv;

#[cfg(target_arch = "wasm32")]
impl Kv for HostKv {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        crate::host::kv::get(key)
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        crate::host::kv::put(key, value)
    }
    fn delete(&mut self, key: &str) -> Result<(), String> {
        crate::host::kv::delete(key)
    }
    fn scan(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
        crate::host::kv::scan(prefix, start_after, limit)
    }
    fn counter(&self, key: &str) -> i64 {
        crate::host::kv::counter(key)
    }
    fn add_bounded(
        &mut self,
        key: &str,
        delta: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, String> {
        crate::host::kv::add_bounded(key, delta, min, max)
    }
}

#[cfg(target_arch = "wasm32")]
impl Emit for HostKv {
    fn emit(&mut self, kind: &str, payload: &Value) -> Result<(), String> {
        crate::host::emit::emit(kind, payload)
    }
}

/// The host's semantics over maps, for unit tests: values, counters, the events emitted, and
/// `writes_left` playing the per-call write quota (`kv_writes_per_call`) when set.
#[derive(Debug, Default, Clone)]
pub struct MemoryKv {
    pub values: std::collections::BTreeMap<String, Vec<u8>>,
    pub counters: std::collections::BTreeMap<String, i64>,
    pub emitted: Vec<(String, Value)>,
    pub writes_left: Option<usize>,
}

impl MemoryKv {
    fn spend_write(&mut self) -> Result<(), String> {
        match &mut self.writes_left {
            Some(0) => Err("quota kv_writes_per_call reached".to_owned()),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

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
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
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
        self.spend_write()?;
        match self.counter(key).checked_add(delta) {
            Some(next) if (min..=max).contains(&next) => {
                self.counters.insert(key.to_owned(), next);
                Ok(Some(next))
            }
            _ => Ok(None),
        }
    }
}

impl Emit for MemoryKv {
    fn emit(&mut self, kind: &str, payload: &Value) -> Result<(), String> {
        self.emitted.push((kind.to_owned(), payload.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_json_pages_through_every_entry_of_the_prefix() {
        let mut kv = MemoryKv::default();
        for n in 0..25 {
            assert!(kv.put_json(&format!("a:{n:03}"), &n).is_ok());
        }
        assert!(kv.put_json("b:1", &99).is_ok());
        let all: Vec<(String, i64)> = kv.scan_json("a:", 7, 100);
        assert_eq!(all.len(), 25);
        assert_eq!(all.last().map(|(_, n)| *n), Some(24));
        assert_eq!(kv.scan_json::<i64>("a:", 7, 10).len(), 10);
    }

    #[test]
    fn a_bounded_counter_refuses_to_leave_its_bounds() {
        let mut kv = MemoryKv::default();
        assert_eq!(kv.add_bounded("c", 2, 0, 3), Ok(Some(2)));
        assert_eq!(kv.add_bounded("c", 2, 0, 3), Ok(None));
        assert_eq!(kv.counter("c"), 2);
        assert_eq!(kv.next_id("id"), Ok(1));
        assert_eq!(kv.next_id("id"), Ok(2));
    }
}

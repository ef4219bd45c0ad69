//! Model weights loaded once per process: the moderation classifier, the companion's
//! chat model, sentence embedder and speech-to-text each cost tens of megabytes and a
//! second or more to load, and several application states in one process (tests, a
//! client embedding the server) share one copy of each.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The model of type `T` loaded under `key` (its files, e.g. a models directory), loading
/// it with `load` the first time. A failed load is not remembered: the next call tries
/// again (the files may have been fetched since).
pub fn load_once<T, E>(key: String, load: impl FnOnce() -> Result<T, E>) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
{
    type Loaded = HashMap<(TypeId, String), Box<dyn Any + Send + Sync>>;
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    let slot = (TypeId::of::<T>(), key);
    if let Some(model) = loaded.get(&slot).and_then(|m| m.downcast_ref::<T>()) {
        return Ok(model.clone());
    }
    let model = load()?;
    loaded.insert(slot, Box::new(model.clone()));
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_once_per_type_and_key_and_retries_failures() {
        let mut calls = 0;
        let mut load = |v: u32| {
            calls += 1;
            move || Ok::<_, String>(v)
        };
        assert_eq!(load_once("models-test-a".into(), load(1)), Ok(1));
        assert_eq!(load_once("models-test-a".into(), load(2)), Ok(1), "cached");
        assert_eq!(load_once::<u64, String>("models-test-a".into(), || Ok(7)), Ok(7), "another type");
        assert_eq!(load_once("models-test-b".into(), load(3)), Ok(3), "another key");
        assert_eq!(load_once::<i8, String>("models-test-c".into(), || Err("missing".into())), Err("missing".into()));
        assert_eq!(load_once::<i8, String>("models-test-c".into(), || Ok(5)), Ok(5), "failures are retried");
        assert_eq!(calls, 3);
    }
}

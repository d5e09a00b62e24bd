//! Interned names for plots and memory pools.
//!
//! Tracy keeps the *pointer* of a plot or memory-pool name and reads the
//! string later (when a viewer asks for it), and identifies a pool by that
//! pointer. So a name must live for the rest of the program, and the same
//! text should always give the same pointer. Each distinct name is leaked
//! once, NUL-terminated, and looked up in a global table: creating plots and
//! pools repeatedly (tests, arenas made per level) does not grow memory.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::PlotFormat;
use crate::pool::PoolState;

/// A name Tracy may keep. Invariant: `with_nul` is `'static`, ends with
/// exactly one NUL byte and contains no other NUL; equal texts share one
/// `with_nul` (same pointer).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    with_nul: &'static str,
}

impl Name {
    /// The name without its NUL terminator.
    pub(crate) fn as_str(self) -> &'static str {
        &self.with_nul[..self.with_nul.len() - 1]
    }

    /// A pointer to the NUL-terminated name, valid for the whole program.
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    pub(crate) fn as_c_ptr(self) -> *const std::ffi::c_char {
        self.with_nul.as_ptr().cast()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What the table knows about one name.
pub(crate) struct Entry {
    /// The interned name.
    pub(crate) name: Name,
    /// The format Tracy was last told for the plot of this name, if any.
    pub(crate) plot_format: Option<PlotFormat>,
    /// The memory pool of this name, once one was created.
    pub(crate) pool: Option<&'static PoolState>,
}

/// Every name interned so far, by text.
static NAMES: Mutex<BTreeMap<&'static str, Entry>> = Mutex::new(BTreeMap::new());

/// Intern `text` (the name of a `kind`, for the panic message) and run `f` on
/// its entry under the table's lock.
///
/// # Panics
///
/// If `text` contains a NUL byte.
pub(crate) fn with_entry<R>(text: String, kind: &str, f: impl FnOnce(&mut Entry) -> R) -> R {
    if let Some(at) = text.find('\0') {
        panic!(
            "tickmem-tracy: {kind} name {text:?} contains a NUL byte at byte {at}; \
             Tracy names are C strings"
        );
    }
    // A panic in `f` cannot leave the table inconsistent (entries are only
    // ever inserted whole), so a poisoned lock is still usable.
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = names.get_mut(text.as_str()) {
        return f(entry);
    }
    let mut with_nul = text;
    with_nul.push('\0');
    let with_nul: &'static str = Box::leak(with_nul.into_boxed_str());
    let name = Name { with_nul };
    let entry = names.entry(name.as_str()).or_insert(Entry {
        name,
        plot_format: None,
        pool: None,
    });
    f(entry)
}

/// The format last configured for the plot named `text`, if any.
pub(crate) fn plot_format(text: &str) -> Option<PlotFormat> {
    let names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    names.get(text).and_then(|entry| entry.plot_format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_same_pointer() {
        let a = with_entry("name/test/a".to_owned(), "plot", |e| e.name);
        let b = with_entry(String::from("name/test/a"), "plot", |e| e.name);
        let c = with_entry("name/test/c".to_owned(), "plot", |e| e.name);
        assert_eq!(a.with_nul.as_ptr(), b.with_nul.as_ptr());
        assert_ne!(a.with_nul.as_ptr(), c.with_nul.as_ptr());
        assert_eq!(a.as_str(), "name/test/a");
        assert_eq!(a.with_nul, "name/test/a\0");
        assert_eq!(format!("{a:?}"), "\"name/test/a\"");
    }

    #[test]
    fn empty_name_is_fine() {
        let e = with_entry(String::new(), "memory pool", |e| e.name);
        assert_eq!(e.as_str(), "");
        assert_eq!(e.with_nul, "\0");
    }

    #[test]
    #[should_panic(
        expected = "tickmem-tracy: memory pool name \"a\\0b\" contains a NUL byte at byte 1"
    )]
    fn nul_is_refused() {
        with_entry("a\0b".to_owned(), "memory pool", |_| ());
    }
}

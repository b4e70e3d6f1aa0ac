//! Running third-party decoders that may panic on damaged input (ARCHITECTURE.md: no panic reaches
//! the user): the panic is caught, its message is not printed, and the caller turns it into an
//! error that names the file.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// True while this thread runs a guarded decoder.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Runs `f`; `None` when it panicked (nothing is printed for that panic).
pub fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(was));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_none_and_values_pass_through() {
        assert_eq!(super::guard(|| 7), Some(7));
        assert_eq!(super::guard(|| -> i32 { panic!("codec") }), None);
    }
}

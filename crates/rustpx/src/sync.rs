//! The synchronisation of the claim, slot and wait protocols, from `loom` when the crate
//! is built for the model checker (`RUSTFLAGS="--cfg loom"`), else from `std` and
//! `parking_lot`. Only the protocols `loom` checks (`schedule::Cursor`, `job::Slots`,
//! `job::Core`'s counters and waiters) use them: a loom type works only inside
//! `loom::model`, so under `--cfg loom` only the `loom` tests can run.
//!
//! The normal build re-exports the real types (or, for [`UnsafeCell`], a wrapper that
//! inlines to the same code), so the hot paths are unchanged by the shim.

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicUsize};
#[cfg(loom)]
pub(crate) use parking::{Condvar, Mutex};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, fence};

/// A `SeqCst` fence in the loom build only, placed where the code relies on the single
/// total order of its `SeqCst` operations: loom treats `SeqCst` accesses as `AcqRel`
/// (loom issue #180) and would report lost wake-ups the real memory model excludes,
/// but models `SeqCst` fences exactly. Nothing in the normal build.
#[inline(always)]
pub(crate) fn seqcst_order_for_loom() {
    #[cfg(loom)]
    fence(std::sync::atomic::Ordering::SeqCst);
}

/// `std::cell::UnsafeCell` with loom's closure API, so that under loom every access to
/// a cell is checked against concurrent ones.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// A cell holding `value`.
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer for reading the value.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer for writing the value.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// loom's mutex and condvar behind `parking_lot`'s API (no poisoning, `wait_until` on a
/// guard borrowed mutably), so the waiting code is the same in both builds.
#[cfg(loom)]
mod parking {
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    /// A loom mutex whose `lock` returns the guard directly.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// A held [`Mutex`]; empty only inside [`Condvar::wait_until`].
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(
                self.0.lock().expect("loom mutexes are never poisoned"),
            ))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("the guard is held")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("the guard is held")
        }
    }

    /// A loom condvar. loom does not model time: a timed wait returns only when
    /// notified, so a model in which a waiter misses its wake-up deadlocks (and fails)
    /// instead of being rescued by its timeout.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _until: Instant) {
            let held = guard.0.take().expect("the guard is held");
            let held = self.0.wait(held).expect("loom mutexes are never poisoned");
            guard.0 = Some(held);
        }
    }
}

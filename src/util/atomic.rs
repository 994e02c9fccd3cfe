//! An enum kept in an `AtomicU8`: read and changed lock-free from any thread, with its
//! encoding in one place instead of integer codes spread over the readers.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};

/// An enum with a one-byte code; `decode` must accept every code `code` produces.
pub trait Code: Copy {
    fn code(self) -> u8;
    fn decode(c: u8) -> Self;
}

pub struct AtomicEnum<E: Code> {
    v: AtomicU8,
    _e: PhantomData<E>,
}

impl<E: Code> AtomicEnum<E> {
    pub fn new(e: E) -> Self {
        AtomicEnum {
            v: AtomicU8::new(e.code()),
            _e: PhantomData,
        }
    }

    #[inline]
    pub fn load(&self) -> E {
        E::decode(self.v.load(Ordering::Relaxed))
    }

    #[inline]
    pub fn store(&self, e: E) {
        self.v.store(e.code(), Ordering::Relaxed);
    }
}

impl<E: Code + std::fmt::Debug> std::fmt::Debug for AtomicEnum<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        A,
        B,
    }

    impl Code for Mode {
        fn code(self) -> u8 {
            self as u8
        }
        fn decode(c: u8) -> Self {
            if c == 1 { Mode::B } else { Mode::A }
        }
    }

    #[test]
    fn a_stored_value_reads_back() {
        let m = AtomicEnum::new(Mode::A);
        assert_eq!(m.load(), Mode::A);
        m.store(Mode::B);
        assert_eq!(m.load(), Mode::B);
    }
}

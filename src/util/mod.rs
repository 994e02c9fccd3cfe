//! Helpers: Redis-exact glob matching, number parsing/formatting (INCRBYFLOAT's long double
//! math), LCS, bitmaps (`bits`: Redis's bit order, fields and overflow rules), the wall clock
//! (`time`) and enums kept in atomics, recent samples' percentiles.

pub mod alloc;
pub mod atomic;
pub mod bits;
pub mod gate;
pub mod glob;
pub mod hex;
pub mod lcs;
pub mod num;
pub mod samples;
pub mod time;

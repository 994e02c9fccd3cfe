//! Helpers: Redis-exact glob matching, number parsing/formatting (INCRBYFLOAT's long double
//! math) and LCS, and the wall clock (`time`).

pub mod glob;
pub mod lcs;
pub mod num;
pub mod time;
